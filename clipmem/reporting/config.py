"""What a run's report shows (``report`` in the Hydra config); the defaults live here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clipmem.errors import ConfigError

ALL = ("all", -1)  # wandb_table_size values meaning every scored pair


@dataclass
class ReportConfig:
    """The ``report`` section; also the structured-config schema.

    gallery_size: pairs in each of the most/least memorized galleries (report/*.png).
    wandb_table_size: rows of the W&B table of scored pairs, most memorized first; ``all`` (or -1): every pair.
    wandb_image_size: side in px of the table's thumbnails (smaller images are upscaled to it, larger kept).
    wandb_models: also upload every model folder (models/<name>/) to W&B as an artifact of type ``model``.
    """

    gallery_size: int = 12
    wandb_table_size: Any = 32
    wandb_image_size: int = 96
    wandb_models: bool = False

    def __post_init__(self) -> None:
        if int(self.gallery_size) < 1:
            raise ConfigError(f"report.gallery_size must be ≥ 1, got {self.gallery_size}")
        size = self.wandb_table_size
        if size not in ALL and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigError(f"report.wandb_table_size must be a whole number ≥ 1, or all (or -1) for every "
                              f"scored pair, got {size!r}")
        if isinstance(self.wandb_image_size, bool) or not 8 <= int(self.wandb_image_size) <= 512:
            raise ConfigError(f"report.wandb_image_size must be in [8, 512] px, got {self.wandb_image_size!r}")

    def table_rows(self, scored: int) -> int:
        """Rows of the W&B table when ``scored`` pairs were scored."""
        return scored if self.wandb_table_size in ALL else min(int(self.wandb_table_size), scored)
