"""Gaussian noise on the embeddings that enter the contrastive loss (training only).

Choice (docs/mitigations.md): noise N(0, σ²·I) is added to the *unit-norm* embedding and the result is
*not* re-normalised by default. Then every similarity in the loss moves by ⟨e_I, n⟩ ~ N(0, σ²) whatever
the embedding width D, so σ means the same for the nano model (D = 64) and ViT-B/32 (D = 512).
``renormalize=True`` projects back onto the sphere instead (the perturbation then grows with D: its
norm is about σ·√D).
"""

from __future__ import annotations

from dataclasses import dataclass

from clipmem.errors import ConfigError
from clipmem.mitigations.base import Mitigation
from clipmem.mitigations.hooks import EmbeddingNoise


@dataclass(frozen=True)
class _SideNoise(Mitigation):
    sigma: float = 0.15
    renormalize: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if float(self.sigma) < 0:
            raise ConfigError(f"mitigation.sigma must be ≥ 0, got {self.sigma}")


@dataclass(frozen=True)
class TextNoise(_SideNoise):
    """``mitigation=text_noise``: N(0, σ²) on the unit-norm text embeddings in the training loss only."""

    name = "text_noise"

    def embedding_noise(self) -> EmbeddingNoise:
        return EmbeddingNoise(text_sigma=float(self.sigma), renormalize=bool(self.renormalize), seed=int(self.seed))


@dataclass(frozen=True)
class ImageNoise(_SideNoise):
    """``mitigation=image_noise``: the image-side counterpart of ``text_noise``."""

    name = "image_noise"

    def embedding_noise(self) -> EmbeddingNoise:
        return EmbeddingNoise(image_sigma=float(self.sigma), renormalize=bool(self.renormalize), seed=int(self.seed))
