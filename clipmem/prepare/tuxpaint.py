"""Tux Paint stamps (Debian ``tuxpaint-stamps-default``, GPL-2): ≈950 photos and drawings, each with a
one-sentence English description.

Package layout (``/usr/share/tuxpaint/stamps``): ``<category>/.../<stamp>.png`` and/or ``<stamp>.svg``
beside ``<stamp>.txt``, whose first line is the English description ("A frog.") and whose other lines
are translations (``fr.utf8=Une grenouille.``). ``.dat`` and ``.ogg`` files (options, sounds) are ignored.
Where a stamp has both a PNG and an SVG, the PNG is used. Columns: ``filepath,title,category,source``.
"""

from __future__ import annotations

import time
from pathlib import Path

from clipmem.prepare import common

NAME = "tuxpaint"
PACKAGE = "tuxpaint-stamps-default"
DEFAULT_SOURCE = Path("/usr/share/tuxpaint/stamps")
DESCRIPTION = "Tux Paint stamps: ~950 photos/drawings with one-sentence captions (Debian tuxpaint-stamps-default)"
COLUMNS = ("filepath", "title", "category", "source")


def english_caption(txt: Path) -> str:
    """The English description: the first line of a stamp's .txt that is not a ``lang.utf8=`` translation."""
    for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
        text = common.clean_text(line)
        if text and ".utf8=" not in text.split(" ")[0]:
            return text
    return ""


def find_stamps(root: Path) -> list[tuple[Path, Path | None]]:
    """(description .txt, image file or None) of every stamp under ``root``, sorted by path."""
    out = []
    for txt in sorted(root.rglob("*.txt")):
        image = next((p for p in (txt.with_suffix(".png"), txt.with_suffix(".svg")) if p.is_file()), None)
        out.append((txt, image))
    return out


def prepare(out: Path, source: Path | None = None, size: int = common.DEFAULT_SIZE,
            workers: int | None = None, limit: int | None = None) -> common.PrepareReport:
    """Write the stamps under ``out`` (see module docstring); ``source`` defaults to the package's folder.
    ``limit``: only the first ``limit`` stamps in path order (a quick look); None = all."""
    start = time.perf_counter()
    root = common.ensure_debian_package(source, DEFAULT_SOURCE, PACKAGE)
    out = common.prepare_out_dir(out)
    report = common.PrepareReport(NAME, out)
    rows, tasks = [], []
    for txt, image in find_stamps(root)[:limit]:
        rel = txt.relative_to(root)
        if image is None:
            report.failed.append((str(rel), "description without a .png or .svg image"))
            continue
        caption = english_caption(txt)
        if not caption:
            report.failed.append((str(rel), "no English description in the .txt"))
            continue
        filepath = (Path(common.IMAGES_DIR) / rel).with_suffix(".png").as_posix()
        rows.append({"filepath": filepath, "title": caption, "category": rel.parts[0] if len(rel.parts) > 1 else "",
                     "source": image.relative_to(root).as_posix()})
        tasks.append((str(image), str(out / filepath), size))
    results = common.map_pool(common.convert_image, tasks, workers or common.default_workers(), f"{NAME}: images")
    kept = []
    for row, error in zip(rows, results, strict=True):
        if error is None:
            kept.append(row)
        else:
            report.failed.append((row["source"], error))
    common.write_pairs_csv(out, COLUMNS, kept)
    common.write_skipped_csv(out, report.failed)
    report.pairs = len(kept)
    report.seconds = time.perf_counter() - start
    return report
