"""Gaussian noise on the embeddings that enter the contrastive loss (training only).

Choice (docs/mitigations.md): noise N(0, σ²·I) is added to the *unit-norm* embedding and the result is
*not* re-normalised by default. Then every similarity in the loss moves by ⟨e_I, n⟩ ~ N(0, σ²) whatever
the embedding width D, so σ means the same for the nano model (D = 64) and ViT-B/32 (D = 512).
``renormalize=True`` projects back onto the sphere instead (the perturbation then grows with D: its
norm is about σ·√D).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from clipmem.errors import ConfigError
from clipmem.mitigations.base import Mitigation

# Streams of the noise seed, so image and text noise never coincide.
TEXT_STREAM, IMAGE_STREAM = 0, 1


def step_generator(seed: int, step: int, stream: int, rank: int = 0) -> torch.Generator:
    """A CPU generator fixed by (seed, optimizer step, stream, rank): resuming reproduces the noise."""
    state = np.random.SeedSequence([int(seed), int(step), int(stream), int(rank)]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


def add_embedding_noise(
    features: torch.Tensor, sigma: float, generator: torch.Generator, renormalize: bool = False
) -> torch.Tensor:
    """``features`` (B, D) unit-norm embeddings plus N(0, σ²) noise per coordinate, drawn on the CPU
    from ``generator`` (device independent). Returns (B, D), re-normalised when ``renormalize``."""
    if sigma <= 0.0:
        return features
    noise = torch.randn(features.shape, generator=generator, dtype=torch.float32)
    noisy = features + sigma * noise.to(device=features.device, dtype=features.dtype)
    return torch.nn.functional.normalize(noisy, dim=-1) if renormalize else noisy


@dataclass(frozen=True)
class EmbeddingNoise:
    """What the CLIP module adds to its loss embeddings while training: σ per side, one draw per
    (optimizer step, rank), from ``seed``."""

    text_sigma: float = 0.0
    image_sigma: float = 0.0
    renormalize: bool = False
    seed: int = 0

    def __call__(self, image: torch.Tensor, text: torch.Tensor, step: int, rank: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Noisy (image (B, D), text (B, D)) embeddings for optimizer step ``step`` on ``rank``."""
        if self.text_sigma > 0:
            text = add_embedding_noise(text, self.text_sigma, step_generator(self.seed, step, TEXT_STREAM, rank),
                                       self.renormalize)
        if self.image_sigma > 0:
            image = add_embedding_noise(image, self.image_sigma,
                                        step_generator(self.seed, step, IMAGE_STREAM, rank), self.renormalize)
        return image, text


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
