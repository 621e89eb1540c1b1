"""The in-memory form every data source produces: images, captions and ids of N pairs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch


@dataclass(frozen=True)
class ImageTextTable:
    """N image–caption pairs held in memory.

    Attributes:
        sample_ids: stable ids (N,) int64; every score and manifest refers to these.
        images: uint8 RGB images (N, 3, H, W), decoded and resized once.
        captions: N lists of one or more captions; caption 0 is the pair's primary caption.
        labels: class index per pair (N,) int64 for zero-shot evaluation, or None.
        classnames: names of the label classes, or None.
        attributes: per-pair categorical attributes (name -> (N,) int64) that define what a caption
            must mention to describe its image; used to make mis-captions that are truly wrong.
        miscaptioned: (N,) bool, True where captions were exchanged so none describes the image.
        mislabeled: (N,) bool, True where the label was changed with the captions (``data.miscaption.labels``).
        atypical: (N,) bool, True where the image was rendered in a rare style (``data.atypical``).
        caption_source: (N,) int64, the sample id whose captions this pair now carries.
        skipped: bad samples left out under ``on_bad_sample=skip``: dicts with ``source``, ``file``,
            ``row``, ``sample_id``, ``reason`` (see ``clipmem.data.sources.bad_samples``).
        keys: the original string key of each pair where ids were derived from keys (webdataset
            ``__key__``, a CSV id column), else None.
        views: uint8 (N, V, 3, H, W) several images of each pair's scene (view 0 is ``images``), or None
            when the source has one image per pair (``multi_image`` mitigation).
        counts: what the source counted while loading, for metrics.json (e.g. ``same_image_other_caption``).
    """

    sample_ids: torch.Tensor
    images: torch.Tensor
    captions: list[list[str]]
    labels: torch.Tensor | None = None
    classnames: list[str] | None = None
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    miscaptioned: torch.Tensor | None = None
    mislabeled: torch.Tensor | None = None
    atypical: torch.Tensor | None = None
    caption_source: torch.Tensor | None = None
    skipped: list[dict] = field(default_factory=list)
    keys: list[str] | None = None
    views: torch.Tensor | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.sample_ids)
        if self.images.shape[0] != n or len(self.captions) != n:
            raise ValueError(
                f"table sizes disagree: {n} ids, {self.images.shape[0]} images, {len(self.captions)} captions"
            )
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(torch.unique(self.sample_ids)) != n:
            raise ValueError("sample_ids must be unique")
        if self.keys is not None and len(self.keys) != n:
            raise ValueError(f"table sizes disagree: {n} ids, {len(self.keys)} keys")
        if self.views is not None:
            expected = (n, self.views.shape[1] if self.views.ndim == 5 else -1, *self.images.shape[1:])
            if self.views.dtype != torch.uint8 or tuple(self.views.shape) != expected:
                raise ValueError(f"views must be uint8 (N, V, 3, H, W) = {expected}, got "
                                 f"{self.views.dtype} {tuple(self.views.shape)}")
            if not torch.equal(self.views[:, 0], self.images):
                raise ValueError("views[:, 0] must equal images (view 0 is the pair's image)")
        for flag in ("miscaptioned", "mislabeled", "atypical"):
            if getattr(self, flag) is None:
                object.__setattr__(self, flag, torch.zeros(n, dtype=torch.bool))
        if self.caption_source is None:
            object.__setattr__(self, "caption_source", self.sample_ids.clone())

    def __len__(self) -> int:
        return len(self.sample_ids)

    def positions(self, ids: torch.Tensor | np.ndarray | list[int]) -> torch.Tensor:
        """Row positions (M,) of the given sample ids; raises KeyError naming an unknown id."""
        ids = torch.as_tensor(ids, dtype=torch.int64)
        order = torch.argsort(self.sample_ids)
        sorted_ids = self.sample_ids[order]
        where = torch.searchsorted(sorted_ids, ids).clamp_(max=len(sorted_ids) - 1)
        found = sorted_ids[where] == ids
        if not bool(found.all()):
            missing = ids[~found][:5].tolist()
            raise KeyError(f"sample ids not in the data: {missing}")
        return order[where]

    def with_captions(
        self, captions: list[list[str]], miscaptioned: torch.Tensor, source: torch.Tensor
    ) -> ImageTextTable:
        """A copy with captions replaced (used to inject mis-captions)."""
        return replace(self, captions=captions, miscaptioned=miscaptioned, caption_source=source)
