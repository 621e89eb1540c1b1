"""What a run analyses beyond its scores (``analysis`` in the Hydra config); the defaults live here."""

from __future__ import annotations

from dataclasses import dataclass

from clipmem.errors import ConfigError


@dataclass
class AnalysisConfig:
    """The ``analysis`` section (docs/paradigms.md); also the structured-config schema.

    unitmem: after scoring, UnitMem per layer of every model's image tower (and CLIP's text tower), written to
        unitmem.csv and report/unitmem.png (``experiment=paradigms`` switches it on).
    samples: UnitMem's samples: this many pairs of S_S (on which every model trained), drawn by the split seed.
    views: augmentations per sample whose activations UnitMem averages (the paper's 10).
    batch_size: encoder batch size.
    """

    unitmem: bool = False
    samples: int = 500
    views: int = 10
    batch_size: int = 256

    def __post_init__(self) -> None:
        if int(self.samples) < 2:
            raise ConfigError(f"analysis.samples must be ≥ 2 (UnitMem compares a sample with the others), "
                              f"got {self.samples}")
        for key in ("views", "batch_size"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"analysis.{key} must be ≥ 1, got {getattr(self, key)}")
