"""Image↔text retrieval recall@k where pair i's image matches pair i's caption.

Ties count against the true match (pessimistic, as CLIP_benchmark's recall): a model that embeds every image
alike retrieves nothing, instead of everything."""

from __future__ import annotations

import torch


def retrieval_recall(image: torch.Tensor, text: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Recall@k in [0, 1] for image→text (``i2t_r{k}``) and text→image (``t2i_r{k}``).

    image, text: unit-norm (N, D) embeddings; row i of each forms the true pair.
    """
    sims = image @ text.T  # (N, N)
    target = torch.arange(len(sims))
    out = {}
    for name, matrix in (("i2t", sims), ("t2i", sims.T)):
        true = matrix[target, target].unsqueeze(1)
        rank = (matrix >= true).sum(1) - 1  # others scoring at least as high: 0 = first, ties count against it
        for k in ks:
            out[f"{name}_r{k}"] = float((rank < k).float().mean())
    return out
