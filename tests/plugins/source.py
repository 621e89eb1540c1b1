"""A data source outside the package: coloured bars drawn in memory, captioned by their colour."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from clipmem.data.table import ImageTextTable

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 60, 220), "yellow": (230, 210, 30)}


@dataclass(frozen=True)
class Bars:
    """``data.source._target_=tests.plugins.source.Bars``: ``num_samples`` images of a horizontal bar."""

    num_samples: int = 600
    resolution: int = 32

    def load(self) -> ImageTextTable:
        g = torch.Generator().manual_seed(3)
        names = list(COLOURS)
        colour = torch.randint(len(names), (self.num_samples,), generator=g)
        row = torch.randint(2, self.resolution - 8, (self.num_samples,), generator=g)
        images = torch.full((self.num_samples, 3, self.resolution, self.resolution), 255, dtype=torch.uint8)
        for i in range(self.num_samples):
            rgb = torch.tensor(COLOURS[names[int(colour[i])]], dtype=torch.uint8).view(3, 1, 1)
            images[i, :, int(row[i]):int(row[i]) + 6, :] = rgb
        captions = [[f"a {names[int(c)]} bar at height {int(r)}"] for c, r in zip(colour, row, strict=True)]
        return ImageTextTable(sample_ids=torch.arange(self.num_samples), images=images, captions=captions)
