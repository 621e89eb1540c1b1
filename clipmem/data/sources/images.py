"""Decode image files into the uint8 cache every source shares: RGB, shorter side resized, centre-cropped.

PIL does the decoding (torchvision's image decoding is not available with the CPU torch build this
project pins). Decoding runs in a thread pool (PIL releases the GIL while decoding) with a progress bar.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from clipmem.io import atomic_write
from clipmem.progress import progress

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
DECODE_ERRORS = (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError, SyntaxError)


def wide_to_8bit(image: Image.Image) -> Image.Image:
    """An 8-bit grayscale ("L") image from a 16-bit ("I;16*"), 32-bit integer ("I") or float ("F") one.

    16-bit values are scaled by 255/65535; "I" images are read as 8-bit when their values fit in
    [0, 255] and as 16-bit when they fit in [0, 65535]; "F" images as [0, 1] or [0, 255]. Anything else
    is refused with ValueError: a guess would silently change the image.
    """
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        scale = 65535.0
    elif values.size == 0 or (values.min() >= 0 and values.max() <= 255 and image.mode == "I"):
        scale = 255.0
    elif image.mode == "I" and values.min() >= 0 and values.max() <= 65535:
        scale = 65535.0
    elif image.mode == "F" and values.min() >= 0 and values.max() <= 1:
        scale = 1.0
    elif image.mode == "F" and values.min() >= 0 and values.max() <= 255:
        scale = 255.0
    else:
        raise ValueError(f"{image.mode} image with values in [{values.min():g}, {values.max():g}]: no 8-bit mapping "
                         "is unambiguous; convert it to 8-bit first")
    return Image.fromarray(np.clip(np.rint(values * (255.0 / scale)), 0, 255).astype(np.uint8), mode="L")


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB version of ``image``; transparent pixels (RGBA, LA, palette with transparency) composited onto white,
    16-bit, 32-bit and float grayscale scaled to 8 bits (``wide_to_8bit``)."""
    if image.mode.startswith("I") or image.mode == "F":
        return wide_to_8bit(image).convert("RGB")
    if image.mode in ("P", "L", "RGB") and "transparency" in image.info:  # a palette or colour-key (tRNS) transparency
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def resize_centre_crop(image: Image.Image, resolution: int) -> Image.Image:
    """Resize so the shorter side is ``resolution`` px (bicubic, antialiased), then centre-crop a square."""
    w, h = image.size
    scale = resolution / min(w, h)
    nw, nh = max(resolution, round(w * scale)), max(resolution, round(h * scale))
    if (nw, nh) != (w, h):
        image = image.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (nw - resolution) // 2, (nh - resolution) // 2
    return image.crop((left, top, left + resolution, top + resolution))


def decode_image(data: str | Path | bytes, resolution: int) -> np.ndarray:
    """One image file (path or its bytes) as uint8 (3, resolution, resolution). Raises one of DECODE_ERRORS."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(source) as image:
        image.draft("RGB", (resolution, resolution))  # JPEG: decode at reduced size when much larger
        rgb = resize_centre_crop(to_rgb(image), resolution)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1).copy()


def verify_image(data: bytes) -> str | None:
    """None if ``data`` looks like a readable image (format identified, ``PIL.Image.verify`` passes), else why not.

    Cheaper than decoding; it does not catch every defect (e.g. a truncated JPEG)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except DECODE_ERRORS as err:
        return f"image cannot be decoded ({type(err).__name__}: {err})"
    return None


def is_empty(item: str | Path | bytes) -> bool:
    """Whether an image item (a path, or the bytes themselves) holds no byte (False where its size cannot be read)."""
    if isinstance(item, bytes):
        return len(item) == 0
    try:
        return Path(item).stat().st_size == 0
    except (OSError, ValueError):
        return False


def decode_many(
    items: Sequence[str | Path | bytes],
    resolution: int,
    num_threads: int | None = None,
    desc: str = "decoding images",
) -> list[np.ndarray | str]:
    """Decode every item; each result is a uint8 (3, R, R) array or a string saying why it failed.

    Order is kept. Failures never raise here: the caller decides (``on_bad_sample``) what to do.
    """
    threads = num_threads or min(8, os.cpu_count() or 1)

    def one(item: str | Path | bytes) -> np.ndarray | str:
        try:
            return decode_image(item, resolution)
        except FileNotFoundError:
            return "image file not found"
        except DECODE_ERRORS as err:
            if is_empty(item):
                return "image file is empty (0 bytes)"
            return f"image cannot be decoded ({type(err).__name__}: {err})"

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(progress(pool.map(one, items), len(items), desc, unit="images"))


def stack_images(arrays: Sequence[np.ndarray], resolution: int) -> torch.Tensor:
    """uint8 (N, 3, R, R) tensor from decoded arrays (an empty N gives shape (0, 3, R, R))."""
    if not arrays:
        return torch.zeros((0, 3, resolution, resolution), dtype=torch.uint8)
    return torch.from_numpy(np.stack(arrays))


def stat_fingerprint(paths: Sequence[str | Path]) -> str:
    """sha256 over each file's path, size and modification time (a missing file counts as missing)."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            st = os.stat(path)
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()


def bytes_fingerprint(blobs: Sequence[bytes]) -> str:
    """sha256 over the contents of in-memory image files (length-prefixed, in order)."""
    digest = hashlib.sha256()
    for blob in blobs:
        digest.update(len(blob).to_bytes(8, "little"))
        digest.update(blob)
    return digest.hexdigest()


def cached_decode_many(
    items: Sequence[str | Path | bytes],
    resolution: int,
    cache_dir: str | Path | None,
    fingerprint: str,
    num_threads: int | None = None,
    desc: str = "decoding images",
) -> list[np.ndarray | str]:
    """``decode_many`` with an optional on-disk cache ``<cache_dir>/decoded-<hash>.pt``.

    The hash covers ``fingerprint`` (what the caller says identifies the items: file stats or bytes),
    the number of items and ``resolution``; anything else changed means a new cache file, never a stale hit.
    """
    if cache_dir is None:
        return decode_many(items, resolution, num_threads, desc)
    key = hashlib.sha256(f"clipmem-decoded-v1|{resolution}|{len(items)}|{fingerprint}".encode()).hexdigest()
    path = Path(cache_dir).expanduser() / f"decoded-{key[:32]}.pt"
    if path.is_file():
        blob = torch.load(path, weights_only=True)
        images = iter(blob["images"].numpy())
        return [next(images) if error is None else error for error in blob["errors"]]
    results = decode_many(items, resolution, num_threads, desc)
    arrays = [r for r in results if not isinstance(r, str)]
    blob = {"images": stack_images(arrays, resolution), "errors": [r if isinstance(r, str) else None for r in results]}
    atomic_write(path, lambda tmp: torch.save(blob, tmp))
    return results
