"""SimCLR-style view augmentation on whole uint8 batches, with parameters drawn from a given generator.

Used for the SSL family's two training views (drawn by (seed, step, view), like the CLIP crops), for
SSLMem's scoring views and for UnitMem's augmentations (drawn once from the scoring seed, so every model is
measured on the same views). In order: a random resized crop with a horizontal flip (one ``grid_sample``),
colour jitter (brightness, contrast, saturation) with probability ``jitter_p``, grayscale with probability
``grayscale_p``, then the CLIP normalisation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from clipmem.data.batches.transforms import OPENAI_MEAN, OPENAI_STD
from clipmem.errors import ConfigError

GRAY = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class ViewParams:
    """Per-image draws of a batch of B: ``theta`` (B, 2, 3) crop and flip, ``jitter`` (B, 3) brightness,
    contrast and saturation factors (1 = unchanged), ``gray`` (B,) bool."""

    theta: torch.Tensor
    jitter: torch.Tensor
    gray: torch.Tensor

    def rows(self, index: slice | torch.Tensor) -> ViewParams:
        """The draws of the rows ``index`` (a slice or an index tensor)."""
        return ViewParams(theta=self.theta[index], jitter=self.jitter[index], gray=self.gray[index])


class ViewAugment:
    """The augmentation of ``families.ssl.augment`` (and of UnitMem); uint8 (B, 3, H, W) in, normalised float
    (B, 3, S, S) out.

    Args:
        image_size: output side S in pixels.
        scale: range of the crop's area as a fraction of the image.
        ratio: range of the crop's aspect ratio w/h.
        flip: probability of a horizontal flip.
        jitter: strength s of colour jitter: each factor uniform in [1 − s, 1 + s].
        jitter_p: probability that an image is colour-jittered.
        grayscale_p: probability that an image is turned to grayscale.
    """

    def __init__(self, image_size: int, scale: Sequence[float] = (0.3, 1.0), ratio: Sequence[float] = (0.75, 1.33),
                 flip: float = 0.5, jitter: float = 0.4, jitter_p: float = 0.8, grayscale_p: float = 0.2) -> None:
        if not 0.0 < scale[0] <= scale[1] <= 1.0:
            raise ConfigError(f"augment scale must satisfy 0 < min <= max <= 1, got {tuple(scale)}")
        if not 0.0 < ratio[0] <= ratio[1]:
            raise ConfigError(f"augment ratio must satisfy 0 < min <= max, got {tuple(ratio)}")
        for name, value in (("flip", flip), ("jitter", jitter), ("jitter_p", jitter_p), ("grayscale_p", grayscale_p)):
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"augment {name} must be in [0, 1], got {value}")
        self.image_size, self.scale, self.ratio = int(image_size), tuple(map(float, scale)), tuple(map(float, ratio))
        self.flip, self.jitter, self.jitter_p, self.grayscale_p = float(flip), float(jitter), float(jitter_p), \
            float(grayscale_p)

    def params(self, batch: int, generator: torch.Generator | None = None) -> ViewParams:
        """Draw the parameters of ``batch`` images (a fixed number of draws per image, in a fixed order)."""
        u = torch.rand(batch, 9, generator=generator)
        area = self.scale[0] + (self.scale[1] - self.scale[0]) * u[:, 0]
        lo, hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(lo + (hi - lo) * u[:, 1])
        w, h = torch.sqrt(area * aspect).clamp(max=1.0), torch.sqrt(area / aspect).clamp(max=1.0)
        theta = torch.zeros(batch, 2, 3)
        theta[:, 0, 0] = torch.where(u[:, 4] < self.flip, -w, w)
        theta[:, 0, 2] = (1.0 - w) * (2.0 * u[:, 2] - 1.0)
        theta[:, 1, 1], theta[:, 1, 2] = h, (1.0 - h) * (2.0 * u[:, 3] - 1.0)
        jitter = 1.0 + self.jitter * (2.0 * u[:, 5:8] - 1.0)
        jitter = torch.where((u[:, 8] < self.jitter_p).unsqueeze(1), jitter, torch.ones_like(jitter))
        gray = torch.rand(batch, generator=generator) < self.grayscale_p
        return ViewParams(theta=theta, jitter=jitter, gray=gray)

    def __call__(self, images: torch.Tensor, params: ViewParams) -> torch.Tensor:
        """Augment uint8 ``images`` (B, 3, H, W) with ``params`` of B images."""
        x = images.float().div_(255.0)
        grid = F.affine_grid(params.theta.to(x.device), [x.shape[0], 3, self.image_size, self.image_size],
                             align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        x = colour_jitter(x, params.jitter.to(x.device))
        luma = (x * GRAY.to(x.device)).sum(1, keepdim=True).expand_as(x)
        x = torch.where(params.gray.to(x.device).view(-1, 1, 1, 1), luma, x)
        mean, std = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1), torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
        return (x - mean.to(x.device)) / std.to(x.device)


def colour_jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and saturation of images in [0, 1] (B, 3, H, W) scaled by ``factors`` (B, 3), as
    torchvision's adjust_* do, in that order; the result is clamped to [0, 1]."""
    b, c, s = (factors[:, i].view(-1, 1, 1, 1) for i in range(3))
    x = (x * b).clamp(0.0, 1.0)
    mean = (x * GRAY.to(x.device)).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    x = ((x - mean) * c + mean).clamp(0.0, 1.0)
    luma = (x * GRAY.to(x.device)).sum(1, keepdim=True)
    return ((x - luma) * s + luma).clamp(0.0, 1.0)
