"""Zero-shot evaluation on a folder of labelled images: ``root/<class>/*.png|jpg|…``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from clipmem.data.sources.bad_samples import BadSamples, check_policy
from clipmem.data.sources.base import SourceFeatures, ZeroShotSet
from clipmem.data.sources.images import IMAGE_EXTENSIONS, decode_many, stack_images
from clipmem.errors import ConfigError

# Generic photo templates (a subset in the spirit of open_clip's SIMPLE_IMAGENET_TEMPLATES).
DEFAULT_TEMPLATES = (
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "a close-up photo of a {}.",
    "a photo of the {}.",
    "a drawing of a {}.",
    "a photo of a small {}.",
    "a photo of a large {}.",
)


def read_classnames(path: Path, folders: list[str]) -> list[str]:
    """Class names for ``folders`` (sorted) from a file: a JSON object {folder: name}, or one name per line in
    the sorted folder order."""
    if not path.is_file():
        raise ConfigError(f"classnames: no such file {str(path)!r}")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        mapping = json.loads(text)
        if not isinstance(mapping, dict):
            raise ConfigError(f"{path}: must hold a JSON object mapping folder name -> class name")
        missing = [f for f in folders if f not in mapping]
        if missing:
            raise ConfigError(f"{path}: no class name for folders {missing[:5]} (it maps {sorted(mapping)[:5]}…)")
        return [str(mapping[f]) for f in folders]
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != len(folders):
        raise ConfigError(f"{path}: {len(names)} class names for {len(folders)} class folders "
                          f"(one name per line, in the sorted folder order: {folders[:5]}…)")
    return names


@dataclass(frozen=True)
class ImageFolderZeroShot:
    """Labelled images in ``root/<class folder>/<image>`` for zero-shot top-1/top-5.

    Args:
        root: folder with one sub-folder per class; images directly inside (jpg, jpeg, png, webp, bmp, gif).
        name: set name (metrics use the ``data.zeroshot`` key).
        classnames: optional file: a JSON object {folder: class name} or one name per line in sorted folder
            order. Without it a folder's name is the class name, with ``_`` and ``-`` read as spaces.
        templates: prompt format strings with one ``{}``; None uses ``DEFAULT_TEMPLATES``.
        resolution: side in px of the cached uint8 images.
        max_per_class: keep at most this many images per class (the first in name order); None keeps all.
        on_bad_sample: ``error`` or ``skip`` unreadable images (skipped ones go to skipped_samples.csv).
        num_threads: decoding threads (None: up to 8, by CPU count).
    """

    features: ClassVar[SourceFeatures] = SourceFeatures(decodes_files=True)

    root: str
    name: str = "imagefolder"
    classnames: str | None = None
    templates: tuple[str, ...] | list[str] | None = None
    resolution: int = 64
    max_per_class: int | None = None
    on_bad_sample: str = "error"
    num_threads: int | None = None

    def __post_init__(self) -> None:
        check_policy(self.on_bad_sample, f"data.zeroshot.{self.name}.on_bad_sample")
        for template in self.templates or ():
            if template.count("{}") != 1:
                raise ConfigError(
                    f"data.zeroshot.{self.name}.templates: each needs exactly one '{{}}', got {template!r}"
                )
        if self.max_per_class is not None and self.max_per_class < 1:
            raise ConfigError(f"data.zeroshot.{self.name}.max_per_class must be ≥ 1 or null, got {self.max_per_class}")

    def check(self) -> Path:
        """The root folder; ConfigError when it does not exist."""
        root = Path(self.root).expanduser()
        if not root.is_dir():
            raise ConfigError(f"data.zeroshot.{self.name}.root: no such folder {str(root)!r}")
        return root

    def load(self) -> ZeroShotSet:
        root = self.check()
        folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise ConfigError(f"data.zeroshot.{self.name}.root: {root} has no class sub-folders")
        if self.classnames:
            classnames = read_classnames(Path(self.classnames).expanduser(), folders)
        else:
            classnames = [f.replace("_", " ").replace("-", " ") for f in folders]
        files, labels = [], []
        for label, folder in enumerate(folders):
            images = sorted(p for p in (root / folder).iterdir()
                            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            files.extend(images[: self.max_per_class])
            labels.extend([label] * len(images[: self.max_per_class]))
        if not files:
            raise ConfigError(f"data.zeroshot.{self.name}.root: no images ({', '.join(IMAGE_EXTENSIONS)}) "
                              f"in the class folders of {root}")
        bad = BadSamples(self.on_bad_sample, f"zeroshot:{self.name}")
        decoded = decode_many(files, self.resolution, self.num_threads, desc=f"decoding {self.name}")
        keep = []
        for i, result in enumerate(decoded):
            if isinstance(result, str):
                relative = files[i].relative_to(root)
                bad.report(root, relative, result, location=f"image {str(relative)!r}")
            else:
                keep.append(i)
        bad.warn()
        return ZeroShotSet(
            name=self.name,
            images=stack_images([decoded[i] for i in keep], self.resolution),
            labels=torch.tensor([labels[i] for i in keep], dtype=torch.int64),
            classnames=classnames,
            templates=list(self.templates or DEFAULT_TEMPLATES),
            skipped=bad.records,
        )
