"""The names of the audit's statistics (a light module: config validation reads them without torch)."""

RANK_STATISTICS = ("rank_joint", "rank_caption", "rank_image")
STATISTICS = (*RANK_STATISTICS, "rank_by_familiarity", "neighbours", "low_consistency", "low_alignment", "memorization",
              "combined", "clipscore")
