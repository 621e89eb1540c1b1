"""What a run's report shows (``report`` in the Hydra config); the defaults live here."""

from __future__ import annotations

from dataclasses import dataclass

from clipmem.errors import ConfigError


@dataclass
class ReportConfig:
    """The ``report`` section; also the structured-config schema.

    gallery_size: pairs in each of the most/least memorized galleries (report/*.png).
    wandb_table_size: rows of the W&B table of most memorized pairs.
    """

    gallery_size: int = 12
    wandb_table_size: int = 32

    def __post_init__(self) -> None:
        for key in ("gallery_size", "wandb_table_size"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"report.{key} must be ≥ 1, got {getattr(self, key)}")
