"""What an audit computes, flags and writes (``audit`` in the Hydra config; ``experiment=audit`` switches it on)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from clipmem.audit.names import GROUPED_STATISTICS, RANK_ORDER_STATISTICS, RANK_STATISTICS, STATISTICS
from clipmem.errors import ConfigError


@dataclass
class AuditConfig:
    """The ``audit`` section; also the structured-config schema (docs/audit.md).

    enabled: write audit.csv, the gallery of suspicious pairs and (``write_clean``) clean.csv after scoring;
        needs ``design=crossfit``.
    statistic: what ``suspicion`` (the order of audit.csv) is: one of ``STATISTICS``
        (docs/audit.md, "The statistics"); the default, ``consensus`` (the mean percentile of four views of a pair),
        was chosen by paired comparisons on three prepared sets and confirmed on three new seeds of each, for models
        with an image tower trained from scratch; ``experiment=audit``, whose towers are frozen, sets
        ``rank_by_familiarity`` (docs/audit.md, "The default statistic").
    min_probability: a pair is ``flagged`` when its probability of a wrong caption (``p_miscaptioned``, from the
        mixture fitted to a rank statistic: the suspicion when it is one, else ``rank_joint``; within familiarity
        groups for ``rank_by_familiarity`` and ``consensus``) is at least this.
    wrong_fraction: your prior share of wrong pairs (e.g. 0.05), or null to estimate it: counted among the pairs
        whose image and caption are familiar, where correct pairs seldom rank low, against the ranks other captions
        would take there (``clipmem.audit.count``; docs/audit.md, "How many are wrong"); a prior fixes it.
    write_clean: also write clean.csv: the input CSV's rows minus the flagged ones, same columns and separator.
    group_size: pairs per familiarity group of ``rank_by_familiarity`` (round(N / group_size) groups, at least 1):
        smaller groups follow familiarity more closely, larger ones estimate each group's rank density better.
    reliability_partitions: split-halves of the repeats averaged by the ranking's reliability.
    bootstrap_draws: resamples of the audited pairs behind the interval of the reliability (and of the mixture's
        count, used where no familiar caption can be counted).
    count_familiar_quantile: the count's region holds the pairs whose image + caption familiarity exceeds this
        quantile of the pairs' sums (docs/audit.md, "How many are wrong"): higher leaves fewer correct pairs in the
        count and fewer wrong ones to count.
    count_rank_threshold: ... and whose joint mid-rank exceeds this (λ; 0.5: the lower half of their block).
    min_steps: the fewest optimizer steps each model takes: on a set too small for ``trainer.max_epochs`` to give
        them, the epochs are raised until the model with the fewest batches per epoch takes this many (steps of each
        data-parallel process; 0: never raised). The default, 160, is below what the presets' epochs
        give on each prepared set, so it only changes smaller sets (docs/audit.md, "How many pairs").
    """

    enabled: bool = False
    statistic: str = "consensus"
    min_probability: float = 0.5
    wrong_fraction: float | None = None
    write_clean: bool = False
    group_size: int = 250
    reliability_partitions: int = 10
    bootstrap_draws: int = 200
    count_familiar_quantile: float = 0.6
    count_rank_threshold: float = 0.5
    min_steps: int = 160

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise ConfigError(f"audit.statistic must be one of {list(STATISTICS)}, got {self.statistic!r}")
        probability = float(self.min_probability)
        if math.isnan(probability) or not 0.0 < probability <= 1.0:
            raise ConfigError(f"audit.min_probability must be in (0, 1], got {self.min_probability}")
        prior = self.wrong_fraction
        if prior is not None and (math.isnan(float(prior)) or not 0.0 < float(prior) < 1.0):
            raise ConfigError(f"audit.wrong_fraction must be null (estimate it) or in (0, 1), got {prior}")
        for key in ("count_familiar_quantile", "count_rank_threshold"):
            value = float(getattr(self, key))
            if math.isnan(value) or not 0.0 <= value < 1.0:
                raise ConfigError(f"audit.{key} must be in [0, 1), got {getattr(self, key)}")
        for key in ("group_size", "reliability_partitions", "bootstrap_draws"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"audit.{key} must be ≥ 1, got {getattr(self, key)}")
        if int(self.min_steps) < 0:
            raise ConfigError(f"audit.min_steps must be ≥ 0 (0: keep trainer.max_epochs), got {self.min_steps}")

    @property
    def grouped(self) -> bool:
        """Whether probabilities and flags are read within familiarity groups (``rank_by_familiarity``,
        ``consensus``)."""
        return self.statistic in GROUPED_STATISTICS

    @property
    def rank_order(self) -> bool:
        """Whether the suspicion orders pairs by their rank within each group (every rank statistic and
        ``rank_by_familiarity``), so that where wrong pairs lie in audit.csv's order is known (a review's count)."""
        return self.statistic in RANK_ORDER_STATISTICS

    @property
    def probability_statistic(self) -> str:
        """The rank statistic the mixture is fitted to: the suspicion when it is a rank, else ``rank_joint``."""
        return self.statistic if self.statistic in RANK_STATISTICS else "rank_joint"
