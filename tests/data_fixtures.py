"""Tiny real-file datasets for the data tests: synthetic scenes saved as PNG, listed in a CSV and packed
into webdataset shards with the same keys, plus labelled image folders for zero-shot."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from clipmem.data import SyntheticSource
from clipmem.data.sources import synthetic


def png_bytes(image: torch.Tensor) -> bytes:
    """PNG file content of a uint8 (3, H, W) image."""
    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    return buffer.getvalue()


def write_pairs(root: Path, num: int, bad: dict[int, str] | None = None, resolution: int = 32) -> dict[str, Path]:
    """Write ``num`` synthetic pairs as ``root/images/<i>.png`` + ``root/pairs.csv`` + two webdataset shards.

    ``bad`` maps row index -> ``missing`` (no image file / member), ``corrupt`` (garbage image bytes) or
    ``empty`` (blank caption); both formats get the same bad rows. Keys are ``%09d`` of the row index.
    Returns paths: ``csv``, ``shards`` (a brace pattern), ``images``.
    """
    bad = bad or {}
    table = SyntheticSource(num_samples=num, resolution=resolution).load()
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    shards = root / "shards"
    shards.mkdir(exist_ok=True)
    half = (num + 1) // 2
    with (root / "pairs.csv").open("w", newline="", encoding="utf-8") as f, \
            tarfile.open(shards / "00000.tar", "w") as tar0, tarfile.open(shards / "00001.tar", "w") as tar1:
        tars = (tar0, tar1)
        writer = csv.writer(f)
        writer.writerow(["filepath", "title", "keywords"])
        for i in range(num):
            kind = bad.get(i)
            data = b"not an image" if kind == "corrupt" else png_bytes(table.images[i])
            title = "  " if kind == "empty" else table.captions[i][0]
            if kind != "missing":
                (images / f"{i}.png").write_bytes(data)
            writer.writerow([f"images/{i}.png", title, ""])
            members = {"txt": title.encode()}
            members["json"] = json.dumps({"caption": title, "key": f"{i:09d}"}).encode()
            if kind != "missing":
                members["png"] = data
            for ext, blob in members.items():
                info = tarfile.TarInfo(f"{i:09d}.{ext}")
                info.size = len(blob)
                tars[i // half].addfile(info, io.BytesIO(blob))
    return {"csv": root / "pairs.csv", "shards": shards / "{00000..00001}.tar", "images": images}


def write_image_folder(root: Path, kind: str, per_class: int, seed: int = 7, corrupt: int = 0) -> Path:
    """Held-out synthetic scenes in ``root/<class>/<n>.png`` with classes by ``kind`` (``shape``/``colour``);
    folder names use ``_`` for spaces. ``corrupt`` extra unreadable files go into the first class folder."""
    ids = np.arange(2_000_000_000, 2_000_000_000 + per_class * 40, dtype=np.int64)
    scenes = synthetic.sample_scenes(ids, seed)
    labels = synthetic.labels(scenes, kind)
    names = synthetic.class_names(kind)
    images = synthetic.render(scenes, 32)
    counts: dict[int, int] = {}
    for i, label in enumerate(labels.tolist()):
        if counts.get(label, 0) >= per_class:
            continue
        counts[label] = counts.get(label, 0) + 1
        folder = root / names[label].replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.png").write_bytes(png_bytes(images[i]))
    first = root / sorted(p.name for p in root.iterdir())[0]
    for n in range(corrupt):
        (first / f"broken{n}.jpg").write_bytes(b"\x00" * 10)
    return root
