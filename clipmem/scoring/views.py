"""K paired augmentation draws per pair, drawn once and shared by f and g so both see the same views."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from clipmem.data.transforms import BatchTransform
from clipmem.evaluation.encode import encode_images, encode_texts
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
    images: torch.Tensor,
    tokens: torch.Tensor,
    plan: ViewPlan,
    train_transform: BatchTransform,
    eval_transform: BatchTransform,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    bf16: bool = False,
    views: torch.Tensor | None = None,
) -> ViewEmbeddings:
    """Embed every (augmented image, caption) draw of ``plan``.

    images: uint8 (N, 3, H, W); tokens: (N, C, L); views: uint8 (N, V, 3, H, W) drawn from by
    ``plan.view`` when both are given. Returns unit-norm (N, K, D) image and text views.
    Each distinct caption is encoded once and gathered, so K costs nothing on the text side.
    """
    n, k = plan.caption.shape
    if plan.view is not None and views is not None:
        drawn = views[torch.arange(n).repeat_interleave(k), plan.view.reshape(-1)]  # (N·K, 3, H, W)
        transform = eval_transform if plan.theta is None else train_transform
        image = encode_images(model, drawn, transform, batch_size, device, plan.theta, bf16,
                              desc="scoring views").view(n, k, -1)
    elif plan.theta is None:
        single = encode_images(model, images, eval_transform, batch_size, device, bf16=bf16)
        image = single.unsqueeze(1).expand(n, k, -1)
    else:
        repeated = images.repeat_interleave(k, dim=0)
        image = encode_images(model, repeated, train_transform, batch_size, device, plan.theta, bf16,
                              desc="scoring views").view(n, k, -1)
    num_captions = tokens.shape[1]
    used = torch.unique(plan.caption).tolist()
    per_caption = torch.zeros(n, num_captions, image.shape[-1])
    for c in used:  # only the caption slots some draw uses
        per_caption[:, c] = encode_texts(model, tokens[:, c], batch_size, device, bf16)
    text = torch.gather(per_caption, 1, plan.caption.unsqueeze(-1).expand(n, k, image.shape[-1]))
    return ViewEmbeddings(image=image.contiguous(), text=text)


def encode_reference(
    model: torch.nn.Module,
    images: torch.Tensor,
    tokens: torch.Tensor,
    eval_transform: BatchTransform,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    bf16: bool = False,
) -> Reference:
    """Embeddings of S_E: un-augmented images (M, 3, H, W) and primary captions tokens[:, 0] -> (M, D)."""
    return Reference(
        image=encode_images(model, images, eval_transform, batch_size, device, bf16=bf16),
        text=encode_texts(model, tokens[:, 0], batch_size, device, bf16),
    )
