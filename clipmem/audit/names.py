"""The names of the audit's statistics (a light module: config validation reads them without torch)."""

RANK_STATISTICS = ("rank_joint", "rank_caption", "rank_image")
CONSENSUS_OF = ("rank_by_familiarity", "low_alignment", "neighbours", "low_fit")  # what ``consensus`` averages
STATISTICS = (*RANK_STATISTICS, "rank_by_familiarity", "consensus", "neighbours", "low_consistency", "low_alignment",
              "low_fit", "memorization", "combined", "clipscore")
GROUPED_STATISTICS = ("rank_by_familiarity", "consensus")  # probabilities read within familiarity groups
RANK_ORDER_STATISTICS = (*RANK_STATISTICS, "rank_by_familiarity")  # order pairs by their rank (within each group)
