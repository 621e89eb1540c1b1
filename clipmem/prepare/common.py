"""What every preparer shares: the pairs.csv writer, square PNG output, and getting the source package.

A prepared set is ``<out>/images/...`` (PNG, ``size`` × ``size`` px, RGB, transparent parts composited
onto white) plus ``<out>/pairs.csv`` (UTF-8, header ``filepath,title[,more columns]``; ``filepath`` is
relative to ``<out>``), the format ``clipmem.data.sources.csv_source.CsvSource`` reads.
"""

from __future__ import annotations

import csv
import importlib
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from PIL import Image

from clipmem.errors import ClipmemError
from clipmem.io import atomic_write

DEFAULT_SIZE = 96  # px side of the saved PNGs; CsvSource resizes to its own `resolution` when it loads them
PAIRS_CSV = "pairs.csv"
IMAGES_DIR = "images"
T = TypeVar("T")
R = TypeVar("R")


class PrepareError(ClipmemError):
    """A set cannot be prepared (source missing and not installable, bad output folder)."""


@dataclass
class PrepareReport:
    """What a preparer did: pairs written, inputs it could not use (with reasons), and the wall time."""

    name: str
    out: Path
    pairs: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source file, reason)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"{self.name}: {self.pairs} pairs -> {self.out / PAIRS_CSV} in {self.seconds:.1f} s; "
                 f"{len(self.failed)} source files skipped"]
        lines += [f"  skipped {file}: {reason}" for file, reason in self.failed[:20]]
        if len(self.failed) > 20:
            lines.append(f"  ... and {len(self.failed) - 20} more (all listed in {self.out / 'skipped.csv'})")
        return "\n".join(lines)


def clean_text(text: str | None) -> str:
    """One line: whitespace runs (newlines included) collapsed to single spaces, ends stripped."""
    return " ".join((text or "").split())


def to_square_rgb(image: Image.Image, size: int, margin: float = 0.04) -> Image.Image | None:
    """Crop to the visible content, centre it on a white square with ``margin`` (fraction of the side) and
    resize to ``size`` × ``size`` RGB. Transparent pixels become white. None if nothing is visible."""
    rgba = image.convert("RGBA")
    box = rgba.getchannel("A").getbbox()
    if box is None:
        return None
    rgba = rgba.crop(box)
    side = int(round(max(rgba.size) * (1 + 2 * margin)))
    canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    canvas.alpha_composite(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
    return canvas.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)


def save_png(image: Image.Image, path: Path) -> None:
    """Write a PNG atomically (a crash never leaves a truncated image behind)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def write_pairs_csv(out: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> Path:
    """Write ``<out>/pairs.csv`` atomically with a header row; ``columns[0]`` must be ``filepath``."""
    if list(columns[:2]) != ["filepath", "title"]:
        raise ValueError(f"pairs.csv columns must start with filepath,title; got {list(columns)}")

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="raise")
            writer.writeheader()
            writer.writerows(rows)

    path = Path(out) / PAIRS_CSV
    atomic_write(path, write)
    return path


def write_skipped_csv(out: Path, failed: Sequence[tuple[str, str]]) -> None:
    """``<out>/skipped.csv``: every source file that was left out, with the reason."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "reason"])
            writer.writerows(failed)

    atomic_write(Path(out) / "skipped.csv", write)


def ensure_debian_package(source: Path | None, default: Path, package: str) -> Path:
    """The source folder: ``source`` if given (must exist), else ``default``, installing ``package`` with apt
    when it is missing and we are root. Raises PrepareError saying how to get it otherwise."""
    if source is not None:
        source = Path(source)
        if not source.exists():
            raise PrepareError(f"--source {source}: no such file or directory")
        return source
    if default.exists():
        return default
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"{default} is missing: installing the Debian package {package} (apt-get)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
        for cmd in (["apt-get", "update", "-q"], install):
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                tail = " ".join(done.stderr.strip().splitlines()[-2:])
                raise PrepareError(f"`{' '.join(cmd)}` failed ({tail}); install {package} by hand or pass --source DIR")
        if default.exists():
            return default
        raise PrepareError(f"installed {package} but {default} still does not exist; pass --source DIR")
    raise PrepareError(
        f"{default} does not exist: install the Debian package with `sudo apt-get install {package}` "
        f"(needs root and network), or pass --source DIR with a copy of its files"
    )


def ensure_python_package(module: str, requirement: str) -> None:
    """Import ``module``, pip-installing ``requirement`` into this interpreter first if it is missing."""
    try:
        importlib.import_module(module)
        return
    except ImportError:
        pass
    print(f"python package {module} is missing: pip install {requirement}", flush=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", requirement], capture_output=True, text=True)
    if done.returncode != 0:
        raise PrepareError(f"{module} is missing and `pip install {requirement}` failed; install it by hand "
                           f"({sys.executable} -m pip install {requirement})")
    importlib.invalidate_caches()
    importlib.import_module(module)


def prepare_out_dir(out: Path) -> Path:
    """Create ``<out>/images``; refuse an ``out`` that is a file."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PrepareError(f"--out {out} exists and is not a directory")
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    return out


_ENTITY = re.compile(rb'<!ENTITY\s+([A-Za-z_][\w.-]*)\s+"([^"&%<]*)"\s*>')
_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", re.DOTALL)


def expand_internal_entities(svg: bytes) -> bytes:
    """Replace ``&name;`` by the values of plain string entities declared in the internal DTD, and drop the
    DOCTYPE (Adobe Illustrator writes ``<!ENTITY ns_svg "http://www.w3.org/2000/svg">`` and uses
    ``xmlns="&ns_svg;"``). Nothing external is ever resolved."""
    entities = dict(_ENTITY.findall(svg))
    body = _DOCTYPE.sub(b"", svg, count=1)
    for name, value in entities.items():
        body = body.replace(b"&" + name + b";", value)
    return body


def render_svg(path: Path, size: int, oversample: int = 3) -> Image.Image | None:
    """Render an SVG with cairosvg into a ``size`` px square via ``to_square_rgb`` (None if it draws nothing).

    The drawing is rendered at ``oversample × size`` first, so that cropping to its content keeps detail.
    """
    import cairosvg

    side = size * oversample
    data = Path(path).read_bytes()
    if b"<!ENTITY" in data:  # cairosvg refuses DTD entities; Illustrator exports declare simple string ones
        png = cairosvg.svg2png(bytestring=expand_internal_entities(data), output_width=side, output_height=side)
    else:
        png = cairosvg.svg2png(url=str(path), output_width=side, output_height=side)
    return to_square_rgb(Image.open(io.BytesIO(png)), size)


def load_raster(path: Path, size: int) -> Image.Image | None:
    """Open a raster image (PNG, ...) as a ``size`` px square via ``to_square_rgb``."""
    with Image.open(path) as image:
        image.load()
        return to_square_rgb(image, size)


def convert_image(task: tuple[str, str, int]) -> str | None:
    """Process-pool job: render/convert ``src`` into the PNG ``dst`` at ``size`` px. None on success, else
    the reason it failed (never raises, so one bad file cannot stop the pool)."""
    src, dst, size = task
    try:
        image = render_svg(Path(src), size) if src.lower().endswith(".svg") else load_raster(Path(src), size)
    except Exception as err:  # noqa: BLE001  (any renderer failure is a skipped file, reported with its reason)
        return f"{type(err).__name__}: {clean_text(str(err))[:200]}"
    if image is None:
        return "renders as an empty (fully transparent) image"
    save_png(image, Path(dst))
    return None


def map_pool(job: Callable[[T], R], tasks: Sequence[T], workers: int, desc: str) -> list[R]:
    """``[job(t) for t in tasks]`` in order, on ``workers`` processes (1: in this process), with a progress bar.

    ``job`` must be a module-level function (it is pickled to the workers).
    """
    from tqdm.auto import tqdm

    if workers <= 1:
        return [job(t) for t in tqdm(tasks, desc=desc, unit="file")]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(job, tasks, chunksize=8), total=len(tasks), desc=desc, unit="file"))


def default_workers() -> int:
    """Worker processes for rendering: the CPUs this process may use, at most 8."""
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:
        return max(1, min(8, os.cpu_count() or 1))
