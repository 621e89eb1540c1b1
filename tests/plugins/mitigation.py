"""A mitigation outside the package: Gaussian noise on the image embeddings only (the paper's noise is on text)."""

from __future__ import annotations

from dataclasses import dataclass

from clipmem.mitigations import EmbeddingNoise, Mitigation


@dataclass(frozen=True)
class ImageEmbeddingNoise(Mitigation):
    """``mitigation._target_=tests.plugins.mitigation.ImageEmbeddingNoise``."""

    name = "image_embedding_noise"
    sigma: float = 0.1
    seed: int = 0

    def embedding_noise(self) -> EmbeddingNoise:
        return EmbeddingNoise(text_sigma=0.0, image_sigma=self.sigma, seed=self.seed)
