"""Batched, gradient-free encoding of images and captions with any open_clip-style model.

A model here is anything with ``encode_image(x, normalize=True)`` and ``encode_text(t, normalize=True)``
(an open_clip ``CLIP`` or ``clipmem.models.CLIPModule``). Embeddings come back as float32 on the CPU.
"""

from __future__ import annotations

import contextlib

import torch

from clipmem.data.transforms import BatchTransform
from clipmem.progress import interactive


def _autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def encode_images(
    model: torch.nn.Module,
    images: torch.Tensor,
    transform: BatchTransform,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    theta: torch.Tensor | None = None,
    bf16: bool = False,
    desc: str | None = None,
) -> torch.Tensor:
    """Normalised embeddings (N, D) of uint8 images (N, 3, H, W); ``theta`` (N, 2, 3) fixes the crops.
    ``desc``: label of a progress bar over the batches (on a terminal only)."""
    device = torch.device(device)
    out = []
    starts = range(0, len(images), batch_size)
    if desc is not None and interactive():
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="batch", leave=False)
    for start in starts:
        chunk = images[start : start + batch_size].to(device)
        crop = None if theta is None else theta[start : start + batch_size]
        with _autocast(device, bf16):
            out.append(model.encode_image(transform(chunk, theta=crop), normalize=True).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)


@torch.no_grad()
def encode_texts(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    bf16: bool = False,
) -> torch.Tensor:
    """Normalised embeddings (N, D) of token ids (N, L)."""
    device = torch.device(device)
    out = []
    for start in range(0, len(tokens), batch_size):
        with _autocast(device, bf16):
            out.append(model.encode_text(tokens[start : start + batch_size].to(device), normalize=True).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module):
    """Temporarily put ``model`` in eval mode, restoring its training flag afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
