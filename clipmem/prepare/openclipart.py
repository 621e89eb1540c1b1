"""Open Clip Art Library drawings (Debian ``openclipart-svg``, public domain): ≈7,500 SVGs with the titles
and keywords their authors gave them, as noisy as web alt text ("gramastar", "Etiquette Icons", "card").

Package layout (``/usr/share/openclipart/svg``): ``<category>/.../<name>.svg``; 663 of the paths are
symbolic links to drawings filed under another category and are left out (each drawing is used once).
Captions come from each file's RDF metadata (``<cc:Work>``): ``<dc:title>`` (the title; the file name
when empty), ``<dc:subject><rdf:Bag><rdf:li>`` (keywords, joined with ", ") and ``<dc:description>``.
Drawings are rendered with cairosvg on a process pool; files that fail to parse or render, or draw
nothing, are counted, listed in ``skipped.csv`` and left out.
Columns: ``filepath,title,keywords,description,category,source``.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

from clipmem.prepare import common

NAME = "openclipart"
PACKAGE = "openclipart-svg"
DEFAULT_SOURCE = Path("/usr/share/openclipart/svg")
DESCRIPTION = "Open Clip Art: ~7,500 public-domain SVG drawings with titles and keywords (Debian openclipart-svg)"
COLUMNS = ("filepath", "title", "keywords", "description", "category", "source")
NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "cc": "http://web.resource.org/cc/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
}
_CC_ALIASES = ("http://web.resource.org/cc/", "http://creativecommons.org/ns#")


def read_metadata(svg: Path) -> dict[str, str]:
    """``title``, ``keywords`` (", "-joined, de-duplicated, in order) and ``description`` of one SVG.

    Raises ``xml.etree.ElementTree.ParseError`` if the file is not XML.
    """
    root = ET.parse(svg).getroot()
    work = None
    for cc in _CC_ALIASES:
        work = root.find(f".//{{{cc}}}Work")
        if work is not None:
            break
    if work is None:
        return {"title": "", "keywords": "", "description": ""}
    keywords: list[str] = []
    for li in work.findall("dc:subject/rdf:Bag/rdf:li", NS):
        word = common.clean_text(li.text)
        if word and word not in keywords:
            keywords.append(word)
    return {
        "title": common.clean_text(work.findtext("dc:title", default="", namespaces=NS)),
        "keywords": ", ".join(keywords),
        "description": common.clean_text(work.findtext("dc:description", default="", namespaces=NS)),
    }


def find_svgs(root: Path) -> list[Path]:
    """Every regular ``.svg`` file under ``root`` (symbolic links left out), sorted by path."""
    return sorted(p for p in root.rglob("*.svg") if p.is_file() and not p.is_symlink())


def _job(task: tuple[str, str, int]) -> tuple[dict[str, str] | None, str | None]:
    """Process-pool job: (metadata, None) after rendering ``src`` to ``dst``, or (None, reason)."""
    src, dst, size = task
    try:
        meta = read_metadata(Path(src))
    except ET.ParseError as err:
        return None, f"metadata: not valid XML ({err})"
    error = common.convert_image(task)
    return (None, error) if error else (meta, None)


def prepare(out: Path, source: Path | None = None, size: int = common.DEFAULT_SIZE,
            workers: int | None = None, limit: int | None = None) -> common.PrepareReport:
    """Write the drawings under ``out`` (see module docstring); ``source`` defaults to the package's folder.
    ``limit``: only the first ``limit`` files in path order (a quick look); None = all."""
    start = time.perf_counter()
    common.ensure_python_package("cairosvg", "cairosvg")
    root = common.ensure_debian_package(source, DEFAULT_SOURCE, PACKAGE)
    out = common.prepare_out_dir(out)
    report = common.PrepareReport(NAME, out)
    svgs = find_svgs(root)[:limit]
    rels = [svg.relative_to(root) for svg in svgs]
    filepaths = [(Path(common.IMAGES_DIR) / rel).with_suffix(".png").as_posix() for rel in rels]
    tasks = [(str(svg), str(out / fp), size) for svg, fp in zip(svgs, filepaths, strict=True)]
    results = common.map_pool(_job, tasks, workers or common.default_workers(), f"{NAME}: rendering")
    rows = []
    for rel, fp, (meta, error) in zip(rels, filepaths, results, strict=True):
        if meta is None:
            report.failed.append((rel.as_posix(), error))
            continue
        title = meta["title"] or common.clean_text(rel.stem.replace("_", " "))
        category = rel.parts[0] if len(rel.parts) > 1 else ""
        rows.append({"filepath": fp, "title": title, "keywords": meta["keywords"],
                     "description": meta["description"], "category": category, "source": rel.as_posix()})
    common.write_pairs_csv(out, COLUMNS, rows)
    common.write_skipped_csv(out, report.failed)
    report.pairs = len(rows)
    report.seconds = time.perf_counter() - start
    return report
