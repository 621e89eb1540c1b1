"""What an audit writes and flags (``audit`` in the Hydra config; ``experiment=audit`` switches it on)."""

from __future__ import annotations

from dataclasses import dataclass

from clipmem.errors import ConfigError

STATISTICS = ("combined", "low_consistency", "memorization", "low_alignment")


@dataclass
class AuditConfig:
    """The ``audit`` section; also the structured-config schema (docs/audit.md).

    enabled: write audit.csv, the gallery of suspicious pairs and (``write_clean``) clean.csv after scoring;
        needs a design with several models (``design=inout``).
    statistic: what ``suspicion`` is: ``low_consistency`` (the models that never saw the pair align it
        poorly: the default, best on both measured sets, Tux Paint and emoji, docs/audit.md), ``combined`` (robust z of
        memorization plus robust z of low consistency), ``memorization`` or ``low_alignment`` (as low
        consistency, without the contrast term).
    threshold: a pair is ``flagged`` when its suspicion lies this many robust standard deviations (1.4826 ·
        median absolute deviation) above the median of the audited pairs.
    write_clean: also write clean.csv: the input CSV's rows minus the flagged ones, same columns and separator.
    """

    enabled: bool = False
    statistic: str = "low_consistency"
    threshold: float = 1.0
    write_clean: bool = False

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise ConfigError(f"audit.statistic must be one of {list(STATISTICS)}, got {self.statistic!r}")
        if float(self.threshold) <= 0:
            raise ConfigError(f"audit.threshold must be > 0 (robust standard deviations), got {self.threshold}")
