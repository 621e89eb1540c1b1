"""Batch image transforms in torch: uint8 (B, 3, H, W) in, normalised float (B, 3, S, S) out.

Images are cached as uint8 tensors and augmented on the whole batch (one ``grid_sample`` call), so
on a 2-core CPU no per-sample PIL work competes with the model for the cores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)  # open_clip.constants.OPENAI_DATASET_MEAN
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class BatchTransform:
    """Random-resized-crop augmentation (``train=True``) or a plain resize, then normalisation.

    Args:
        image_size: output side S in pixels (the model's input size).
        scale: range of the crop's area as a fraction of the image (train only).
        ratio: range of the crop's aspect ratio w/h (train only).
        mean, std: per-channel normalisation of images scaled to [0, 1].
        train: augment when True; resize only when False.
    """

    def __init__(
        self,
        image_size: int,
        scale: Sequence[float] = (0.8, 1.0),
        ratio: Sequence[float] = (0.9, 1.1),
        mean: Sequence[float] = OPENAI_MEAN,
        std: Sequence[float] = OPENAI_STD,
        train: bool = True,
    ) -> None:
        if not 0.0 < scale[0] <= scale[1] <= 1.0:
            raise ValueError(f"augment scale must satisfy 0 < min <= max <= 1, got {tuple(scale)}")
        if not 0.0 < ratio[0] <= ratio[1]:
            raise ValueError(f"augment ratio must satisfy 0 < min <= max, got {tuple(ratio)}")
        self.image_size = int(image_size)
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)
        self.train = train

    @property
    def whole_image(self) -> bool:
        """Scale and ratio [1, 1]: every crop is the whole image, so training resizes as evaluation does (the same
        tensor bit for bit, which a frozen tower's feature cache relies on: ``clipmem.models.image_encoder``)."""
        return self.scale == (1.0, 1.0) and self.ratio == (1.0, 1.0)

    def crop_params(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Affine matrices (B, 2, 3) that map the output grid onto a random crop of the input."""
        u = torch.rand(batch, 4, generator=generator)
        area = self.scale[0] + (self.scale[1] - self.scale[0]) * u[:, 0]
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(log_lo + (log_hi - log_lo) * u[:, 1])
        w = torch.sqrt(area * aspect).clamp(max=1.0)
        h = torch.sqrt(area / aspect).clamp(max=1.0)
        tx = (1.0 - w) * (2.0 * u[:, 2] - 1.0)  # crop centre in [-1, 1] coordinates, inside the image
        ty = (1.0 - h) * (2.0 * u[:, 3] - 1.0)
        theta = torch.zeros(batch, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2] = w, tx
        theta[:, 1, 1], theta[:, 1, 2] = h, ty
        return theta

    def __call__(
        self,
        images: torch.Tensor,
        generator: torch.Generator | None = None,
        theta: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """images: uint8 (B, 3, H, W). Crops come from ``theta`` (B, 2, 3) when given, else are drawn
        with ``generator`` (a CPU generator, for reproducible crops). Eval mode ignores both."""
        x = images.float().div_(255.0)
        size = self.image_size
        if self.train and not self.whole_image:
            theta = self.crop_params(x.shape[0], generator) if theta is None else theta
            theta = theta.to(x.device)
            grid = F.affine_grid(theta, [x.shape[0], 3, size, size], align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        elif x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return (x - self.mean.to(x.device)) / self.std.to(x.device)
