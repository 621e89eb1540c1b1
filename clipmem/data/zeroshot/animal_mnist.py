"""Zero-shot set from the ``animal-mnist`` PyPI package (MIT): 10,000 28 × 28 grey silhouettes of ten animals.

Install with ``pip install --no-deps animal-mnist`` (its declared dependencies include tensorflow, which
it only needs for its own MNIST loaders; clipmem reads the data files directly with gzip + pickle and
never imports the package). Files: ``animal_mnist/data/Animal_MNIST/animal_{data,label}_version_3.gz``,
pickled uint8 (10000, 28, 28) white-on-black images and int64 (10000,) labels 0–9, 1,000 per class.
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from clipmem.data.sources.base import ZeroShotSet
from clipmem.errors import ConfigError

# Label order: the classes as the package's description lists them (alphabetical); checked against
# its images (label 0 shows bears, 6 giraffes, 9 zebras).
CLASSNAMES = ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")
TEMPLATES = (
    "a {}.",
    "a picture of a {}.",
    "a drawing of a {}.",
    "a silhouette of a {}.",
    "a black and white picture of a {}.",
    "a photo of a {}.",
    "an animal: a {}.",
)
DATA_FILE = "animal_data_version_3.gz"
LABEL_FILE = "animal_label_version_3.gz"
INSTALL_HINT = "pip install --no-deps animal-mnist"


def package_data_dir() -> Path:
    """Folder of the installed package's data files (found without importing the package)."""
    spec = importlib.util.find_spec("animal_mnist")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"data.zeroshot.animal_mnist needs the animal-mnist package: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "Animal_MNIST"


def read_arrays(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 28, 28) and labels int64 (N,) from the package's two gzip-pickle files in ``folder``."""
    paths = [folder / DATA_FILE, folder / LABEL_FILE]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"animal-mnist data files missing: {missing}; reinstall with {INSTALL_HINT}")
    arrays = []
    for path in paths:
        with gzip.open(path, "rb") as f:
            arrays.append(np.asarray(pickle.load(f)))  # noqa: S301  (the package's own data files)
    images, labels = arrays
    if images.ndim != 3 or images.dtype != np.uint8 or labels.shape != (len(images),):
        raise ConfigError(f"unexpected animal-mnist arrays: images {images.dtype} {images.shape}, "
                          f"labels {labels.shape}")
    return images, labels.astype(np.int64)


@dataclass(frozen=True)
class AnimalMNISTZeroShot:
    """Zero-shot classification of 10 animal silhouettes (``data.zeroshot.animal_mnist``).

    Args:
        name: the set's name in metrics (``zeroshot_top1_f/<name>``).
        resolution: side in px the 28 px images are resized to (bilinear), as RGB.
        invert: black silhouettes on white (True) instead of the package's white on black; drawings and
            stamps composited onto white look like the former.
        num_samples: use the first ``num_samples`` of a fixed class-balanced order (None: all 10,000).
        templates: prompt format strings with one ``{}``; None uses ``TEMPLATES``.
        data_dir: folder with the two data files; None finds the installed package.
    """

    name: str = "animal_mnist"
    resolution: int = 32
    invert: bool = False
    num_samples: int | None = None
    templates: tuple[str, ...] | list[str] | None = None
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if self.resolution < 8:
            raise ConfigError(f"data.zeroshot.{self.name}.resolution must be ≥ 8 px, got {self.resolution}")
        if self.num_samples is not None and self.num_samples < len(CLASSNAMES):
            raise ConfigError(f"data.zeroshot.{self.name}.num_samples must be ≥ {len(CLASSNAMES)} or null, "
                              f"got {self.num_samples}")

    def load(self) -> ZeroShotSet:
        folder = Path(self.data_dir) if self.data_dir else package_data_dir()
        images, labels = read_arrays(folder)
        if labels.min() < 0 or labels.max() >= len(CLASSNAMES):
            raise ConfigError(f"animal-mnist labels outside 0..{len(CLASSNAMES) - 1}: {labels.min()}..{labels.max()}")
        order = balanced_order(labels)[: self.num_samples]
        x = torch.from_numpy(images[order]).float().unsqueeze(1)  # (N, 1, 28, 28)
        if self.invert:
            x = 255.0 - x
        if self.resolution != x.shape[-1]:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        rgb = x.round_().clamp_(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
        return ZeroShotSet(
            name=self.name,
            images=rgb,
            labels=torch.from_numpy(labels[order]),
            classnames=list(CLASSNAMES),
            templates=list(self.templates or TEMPLATES),
        )


def balanced_order(labels: np.ndarray) -> np.ndarray:
    """Row order that cycles through the classes (the i-th of class 0, of class 1, ...), so any prefix is
    class-balanced; deterministic, no randomness."""
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        rank[rows] = np.arange(len(rows))
    return np.lexsort((labels, rank))
