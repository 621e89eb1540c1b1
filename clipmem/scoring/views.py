"""K paired augmentation draws per pair, drawn once and shared by f and g so both see the same views."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from clipmem.data.batches.transforms import BatchTransform
from clipmem.evaluation.encode import DEFAULT_BATCHING, Batching, encode_images, encode_texts
from clipmem.scoring.clipmem import Reference, ViewEmbeddings


@dataclass(frozen=True)
class ViewPlan:
    """``theta`` (N·K, 2, 3) crop matrices (None: no image augmentation), ``caption`` (N, K) indices and
    ``view`` (N, K) indices into each pair's images (None: one image per pair)."""

    theta: torch.Tensor | None
    caption: torch.Tensor
    view: torch.Tensor | None = None

    @property
    def num_views(self) -> int:
        return self.caption.shape[1]


class ScoredPairs(Protocol):
    """What the encoders read of the scored pairs (``PairSet`` has it): ``images`` uint8 (N, 3, H, W), ``tokens``
    (N, C, L) and ``views`` uint8 (N, V, 3, H, W) or None (one image per pair)."""

    images: torch.Tensor
    tokens: torch.Tensor
    views: torch.Tensor | None


@dataclass(frozen=True)
class ViewTransforms:
    """``train``: the training augmentation (applied with the plan's crops); ``plain``: the evaluation transform."""

    train: BatchTransform
    plain: BatchTransform


def plan_views(
    counts: torch.Tensor, num_views: int, transform: BatchTransform, seed: int, augment_images: bool = True,
    image_views: int = 1,
) -> ViewPlan:
    """Draw K (crop, caption) pairs for each of N pairs; caption k is uniform over the pair's ``counts``.

    With ``image_views`` V > 1 (``multi_image``) each draw also picks one of the pair's V images, from a
    generator of its own so that crops and captions are those of a plan without views.
    """
    if num_views < 1:
        raise ValueError(f"scoring.num_views must be ≥ 1, got {num_views}")
    generator = torch.Generator().manual_seed(int(seed))
    n = len(counts)
    theta = transform.crop_params(n * num_views, generator) if augment_images else None
    u = torch.rand(n, num_views, generator=generator)
    caption = (u * counts.view(-1, 1)).long().clamp_(max=(counts - 1).clamp(min=0).view(-1, 1))
    view = None
    if image_views > 1:
        view = torch.randint(image_views, (n, num_views), generator=torch.Generator().manual_seed(int(seed) + 1))
    return ViewPlan(theta=theta, caption=caption, view=view)


def encode_views(
    model: torch.nn.Module,
    pairs: ScoredPairs,
    plan: ViewPlan,
    transforms: ViewTransforms,
    batching: Batching = DEFAULT_BATCHING,
) -> ViewEmbeddings:
    """Embed every (augmented image, caption) draw of ``plan`` of the N ``pairs``; a pair's image views are
    drawn from by ``plan.view`` when the pairs have views. Returns unit-norm (N, K, D) image and text views.
    Each distinct caption is encoded once and gathered, so K costs nothing on the text side.
    """
    n, k = plan.caption.shape
    images, tokens, views = pairs.images, pairs.tokens, pairs.views
    if plan.view is not None and views is not None:
        drawn = views[torch.arange(n).repeat_interleave(k), plan.view.reshape(-1)]  # (N·K, 3, H, W)
        transform = transforms.plain if plan.theta is None else transforms.train
        image = encode_images(model, drawn, transform, batching, plan.theta, desc="scoring views").view(n, k, -1)
    elif plan.theta is None:
        single = encode_images(model, images, transforms.plain, batching)
        image = single.unsqueeze(1).expand(n, k, -1)
    else:
        repeated = images.repeat_interleave(k, dim=0)
        image = encode_images(model, repeated, transforms.train, batching, plan.theta,
                              desc="scoring views").view(n, k, -1)
    num_captions = tokens.shape[1]
    used = torch.unique(plan.caption).tolist()
    per_caption = torch.zeros(n, num_captions, image.shape[-1])
    for c in used:  # only the caption slots some draw uses
        per_caption[:, c] = encode_texts(model, tokens[:, c], batching)
    text = torch.gather(per_caption, 1, plan.caption.unsqueeze(-1).expand(n, k, image.shape[-1]))
    return ViewEmbeddings(image=image.contiguous(), text=text)


def encode_reference(
    model: torch.nn.Module,
    pairs: ScoredPairs,
    transform: BatchTransform,
    batching: Batching = DEFAULT_BATCHING,
) -> Reference:
    """Embeddings (M, D) of the M reference pairs (S_E): their images un-augmented through the evaluation
    ``transform`` and their primary captions (``pairs.tokens[:, 0]``)."""
    return Reference(
        image=encode_images(model, pairs.images, transform, batching),
        text=encode_texts(model, pairs.tokens[:, 0], batching),
    )
