"""Gaussian noise on the embeddings that enter the contrastive loss (training only).

Choice (documented in the README): noise N(0, σ²·I) is added to the *unit-norm* embedding and the
result is *not* re-normalised by default. Then every similarity in the loss moves by
⟨e_I, n⟩ ~ N(0, σ²) whatever the embedding width D, so σ means the same for the nano model (D = 64)
and ViT-B/32 (D = 512). ``renormalize=True`` projects back onto the sphere instead (the perturbation
then grows with D: its norm is about σ·√D).
"""

from __future__ import annotations

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
