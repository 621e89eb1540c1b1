"""Data sources: objects with ``load()`` that return an in-memory table of pairs.

Each source is chosen in ``conf/data/*.yaml`` by ``_target_``. A new source only needs to satisfy
``DataSource`` (training pairs) or ``ZeroShotSource`` (evaluation images); streaming sources add the
methods of ``StreamingSource``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from clipmem.data.sources import synthetic
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError


@dataclass(frozen=True)
class ZeroShotSet:
    """Labelled images for zero-shot classification.

    images: uint8 (N, 3, H, W); labels: (N,) int64 indices into ``classnames``;
    templates: format strings with one ``{}`` for the class name; skipped: bad images left out
    (see ``clipmem.data.sources.bad_samples``).
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classnames: list[str]
    templates: list[str]
    skipped: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class SourceFeatures:
    """What a data or zero-shot source offers beyond ``load``, declared as its class attribute ``features``; a
    source that declares none (a plugin, say) offers none.

    decodes_files: it decodes image files and caches them at its own ``resolution`` (a warning when that is
        below the model's input).
    csv_rows: ``rows_by_id()``, ``delimiter()`` and ``line_end()`` hand back its CSV rows, separator and line ending
        (what ``audit.write_clean`` copies).
    image_locations: ``image_locations()`` names each pair's image file (the image column of audit.csv).
    builds_from_data: a zero-shot set that ``build(table, manifest, source)`` makes from the run's own pairs and
        split, instead of ``load()`` (the held-out probe).
    """

    decodes_files: bool = False
    csv_rows: bool = False
    image_locations: bool = False
    builds_from_data: bool = False


def features_of(source: object) -> SourceFeatures:
    """The ``features`` ``source`` declares, or none."""
    features = getattr(source, "features", None)
    return features if isinstance(features, SourceFeatures) else SourceFeatures()


@runtime_checkable
class DataSource(Protocol):
    """Training pairs: ``load()`` returns every good pair with a stable sample id (bad ones recorded); optional
    capabilities are declared as ``features`` (``SourceFeatures``)."""

    def load(self) -> ImageTextTable: ...


@runtime_checkable
class ZeroShotSource(Protocol):
    """Labelled evaluation images: ``load()`` returns a ``ZeroShotSet``; ``name`` keys its metrics."""

    name: str

    def load(self) -> ZeroShotSet: ...


@runtime_checkable
class StreamingSource(DataSource, Protocol):
    """A source whose training pairs stay in their shards (``streaming=true``): an index of ids and
    shards, the decoded subset scoring needs, and per-sample image bytes and captions for the stream."""

    streaming: bool
    shuffle_buffer: int
    resolution: int

    def index(self): ...

    def load_subset(self, sample_ids: set[int]) -> ImageTextTable: ...

    def image_of(self, files: dict[str, bytes]) -> bytes | None: ...

    def captions_of(self, files: dict[str, bytes]) -> list[str]: ...


def _check_label_kind(label_kind: str, field: str) -> None:
    if label_kind not in synthetic.LABEL_KINDS:
        raise ConfigError(f"{field} must be one of {list(synthetic.LABEL_KINDS)}, got {label_kind!r}")


@dataclass(frozen=True)
class SyntheticSource:
    """Synthetic shapes with captions (``clipmem.data.sources.synthetic``); ids are 0..num_samples-1.

    Args:
        num_samples: number of pairs.
        resolution: rendered side in pixels (32–64 recommended).
        captions_per_sample: captions per image, each from a different template.
        seed: dataset seed (which scenes exist); the experiment seed draws splits separately.
        label_kind: class labels for zero-shot: ``colour_shape``, ``shape`` or ``colour``.
        views: images rendered per scene (1 = one image per pair); views > 0 re-draw the continuous
            jitter and keep every captioned attribute (``synthetic.sample_scenes(view=v)``).
    """

    num_samples: int = 6000
    resolution: int = 32
    captions_per_sample: int = 5
    seed: int = 0
    label_kind: str = "colour_shape"
    views: int = 1

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise ConfigError(f"data.source.num_samples must be ≥ 1, got {self.num_samples}")
        if self.views < 1:
            raise ConfigError(f"data.source.views (mitigation.k) must be ≥ 1, got {self.views}")
        _check_label_kind(self.label_kind, "data.source.label_kind")

    def render_atypical(self, sample_ids: list[int] | np.ndarray, style: str) -> torch.Tensor:
        """The scenes of ``sample_ids`` rendered in an atypical ``style`` (``synthetic.ATYPICAL_STYLES``), every
        captioned attribute kept: uint8 (n, 3, H, W), or (n, V, 3, H, W) with ``views`` > 1."""
        ids = np.asarray(sample_ids, dtype=np.int64)
        rendered = [synthetic.render(synthetic.sample_scenes(ids, self.seed, view=v), self.resolution, style=style)
                    for v in range(self.views)]
        return rendered[0] if self.views == 1 else torch.stack(rendered, dim=1)

    def load(self) -> ImageTextTable:
        ids = np.arange(self.num_samples, dtype=np.int64)
        scenes = synthetic.sample_scenes(ids, self.seed)
        images = synthetic.render(scenes, self.resolution)
        views = None
        if self.views > 1:
            extra = [synthetic.render(synthetic.sample_scenes(ids, self.seed, view=v), self.resolution)
                     for v in range(1, self.views)]
            views = torch.stack([images, *extra], dim=1)
            images = views[:, 0]  # the same memory as view 0, not a second copy
        return ImageTextTable(
            sample_ids=torch.from_numpy(ids),
            images=images,
            captions=synthetic.captions(scenes, self.seed, self.captions_per_sample),
            labels=torch.from_numpy(synthetic.labels(scenes, self.label_kind)),
            classnames=synthetic.class_names(self.label_kind),
            attributes={"colour": scenes.colour, "shape": scenes.shape},
            views=views,
        )


@dataclass(frozen=True)
class SyntheticZeroShot:
    """Held-out synthetic images for zero-shot accuracy; ids start at ``id_offset`` (never in a split).

    ``templates`` are format strings with one ``{}``; None uses ``synthetic.ZEROSHOT_TEMPLATES``.
    """

    name: str = "synthetic"
    num_samples: int = 1000
    resolution: int = 32
    seed: int = 0
    label_kind: str = "colour_shape"
    id_offset: int = 1_000_000_000
    templates: tuple[str, ...] | list[str] | None = None

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise ConfigError(f"data.zeroshot.{self.name}.num_samples must be ≥ 1, got {self.num_samples}")
        _check_label_kind(self.label_kind, f"data.zeroshot.{self.name}.label_kind")

    def load(self) -> ZeroShotSet:
        ids = np.arange(self.id_offset, self.id_offset + self.num_samples, dtype=np.int64)
        scenes = synthetic.sample_scenes(ids, self.seed)
        return ZeroShotSet(
            name=self.name,
            images=synthetic.render(scenes, self.resolution),
            labels=torch.from_numpy(synthetic.labels(scenes, self.label_kind)),
            classnames=synthetic.class_names(self.label_kind),
            templates=list(self.templates or synthetic.ZEROSHOT_TEMPLATES),
        )
