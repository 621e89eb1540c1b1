"""How per-sample statistics are computed (``scoring`` in the Hydra config); the defaults live here."""

from __future__ import annotations

from dataclasses import dataclass

from clipmem.errors import ConfigError

NORMALISATIONS = ("minmax", "range", "none")


@dataclass
class ScoringConfig:
    """The ``scoring`` section (docs/method.md, "The score"); also the structured-config schema.

    num_views: K paired draws of (image augmentation, caption) per scored pair.
    contrast: subtract the contrast term over S_E when True.
    normalisation: ``minmax`` | ``range`` | ``none`` (how the reported score is scaled over the scored set).
    augment_images: draw image views with the training augmentation (else the plain image).
    seed: seed of the view draws, the same for every model of a plan (train.yaml sets it to ``${seed}``).
    batch_size: encoder batch size.
    bf16: encode in bfloat16 autocast on CUDA.
    """

    num_views: int = 8
    contrast: bool = True
    normalisation: str = "minmax"
    augment_images: bool = True
    seed: int = 0
    batch_size: int = 256
    bf16: bool = False

    def __post_init__(self) -> None:
        if self.normalisation not in NORMALISATIONS:
            raise ConfigError(
                f"scoring.normalisation must be one of {list(NORMALISATIONS)}, got {self.normalisation!r}"
            )
        if int(self.num_views) < 1:
            raise ConfigError(f"scoring.num_views must be ≥ 1, got {self.num_views}")
        if int(self.batch_size) < 1:
            raise ConfigError(f"scoring.batch_size must be ≥ 1, got {self.batch_size}")
