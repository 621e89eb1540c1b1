"""Batched, gradient-free encoding of images and captions with any open_clip-style model.

A model here is anything with ``encode_image(x, normalize=True)`` and ``encode_text(t, normalize=True)``
(an open_clip ``CLIP`` or ``clipmem.models.CLIPModule``). Embeddings come back as float32 on the CPU.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from clipmem.data.batches.transforms import BatchTransform
from clipmem.progress import interactive


@dataclass(frozen=True)
class Batching:
    """How an encoder runs: ``size`` rows per forward pass, on ``device``, in bfloat16 autocast when ``bf16``
    (on CUDA only; on the CPU it is ignored, so CPU scores never depend on it)."""

    size: int = 256
    device: torch.device | str = "cpu"
    bf16: bool = False

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast where ``bf16`` is set and the device is CUDA; else nothing."""
        if self.bf16 and self.torch_device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


DEFAULT_BATCHING = Batching()  # 256 rows per pass on the CPU, float32


@torch.no_grad()
def encode_images(
    model: torch.nn.Module,
    images: torch.Tensor,
    transform: BatchTransform,
    batching: Batching = DEFAULT_BATCHING,
    theta: torch.Tensor | None = None,
    desc: str | None = None,
) -> torch.Tensor:
    """Normalised embeddings (N, D) of uint8 images (N, 3, H, W); ``theta`` (N, 2, 3) fixes the crops.
    ``desc``: label of a progress bar over the batches (on a terminal only)."""
    device, batch_size = batching.torch_device, int(batching.size)
    out = []
    starts = range(0, len(images), batch_size)
    if desc is not None and interactive():
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="batch", leave=False)
    for start in starts:
        chunk = images[start : start + batch_size].to(device)
        crop = None if theta is None else theta[start : start + batch_size]
        with batching.autocast():
            out.append(model.encode_image(transform(chunk, theta=crop), normalize=True).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)


@torch.no_grad()
def encode_texts(
    model: torch.nn.Module,
    tokens: torch.Tensor,
    batching: Batching = DEFAULT_BATCHING,
) -> torch.Tensor:
    """Normalised embeddings (N, D) of token ids (N, L)."""
    device, batch_size = batching.torch_device, int(batching.size)
    out = []
    for start in range(0, len(tokens), batch_size):
        with batching.autocast():
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
