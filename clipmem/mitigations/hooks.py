"""What a mitigation hands to training: the noise the CLIP loss adds to its embeddings (``EmbeddingNoise``) and
the ids that leave training (``Removal``). The mitigations (``noise``, ``remove_topk``) build them; the model
and the run read them, without importing any mitigation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

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
class Removal:
    """Ids leaving training: ``candidate`` in rank order with their ranking ``values``, and the
    equally many ``independent`` ids removed from g's set."""

    ranking: str
    candidate: tuple[int, ...]
    values: tuple[float, ...]
    independent: tuple[int, ...]

    @property
    def ids(self) -> tuple[int, ...]:
        return self.candidate + self.independent
