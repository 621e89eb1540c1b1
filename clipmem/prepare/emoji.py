"""Noto Color Emoji (Debian ``fonts-noto-color-emoji``, OFL-1.1): ≈1,400 single-code-point emoji rendered
with Pillow, captioned with their Unicode names ("GRINNING FACE" -> "grinning face").

The font's character map (read with fontTools, which comes with matplotlib) lists the code points it
draws; modifiers, joiners, variation selectors, keycap parts, regional-indicator letters and tags are
left out, as are code points without a Unicode name in this Python's ``unicodedata``. The colour bitmap
(CBDT) font only loads at size 109 with ``embedded_color=True``. Multi-code-point sequences (flags,
ZWJ families, skin tones) have no ``unicodedata`` name and are not included.
Columns: ``filepath,title,category,codepoint``.
"""

from __future__ import annotations

import time
import unicodedata
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from clipmem.prepare import common

NAME = "emoji"
PACKAGE = "fonts-noto-color-emoji"
DEFAULT_SOURCE = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
DESCRIPTION = "Noto Color Emoji: ~1,400 emoji with their Unicode names (Debian fonts-noto-color-emoji)"
COLUMNS = ("filepath", "title", "category", "codepoint")
FONT_SIZE = 109  # the only size the CBDT bitmap font provides
_EXCLUDED_RANGES = (
    (0x0000, 0x00A8),    # ASCII and Latin-1 controls: digits, '#', '*', space
    (0x200B, 0x200F),    # zero-width joiner and friends
    (0x20E3, 0x20E3),    # combining enclosing keycap
    (0xFE00, 0xFE0F),    # variation selectors
    (0x1F1E6, 0x1F1FF),  # regional indicator letters (flags are pairs of them)
    (0x1F3FB, 0x1F3FF),  # skin-tone modifiers
    (0xE0000, 0xE007F),  # tags
)
_BLOCKS = (  # (first, last, name) of the Unicode blocks most emoji come from; the rest are "other symbols"
    (0x2190, 0x21FF, "arrows"),
    (0x2300, 0x23FF, "technical"),
    (0x2600, 0x26FF, "miscellaneous symbols"),
    (0x2700, 0x27BF, "dingbats"),
    (0x1F300, 0x1F5FF, "symbols and pictographs"),
    (0x1F600, 0x1F64F, "emoticons"),
    (0x1F680, 0x1F6FF, "transport and map"),
    (0x1F900, 0x1F9FF, "supplemental symbols and pictographs"),
    (0x1FA70, 0x1FAFF, "symbols and pictographs extended-a"),
)


def block_name(codepoint: int) -> str:
    return next((name for lo, hi, name in _BLOCKS if lo <= codepoint <= hi), "other symbols")


def emoji_codepoints(font_path: Path) -> list[int]:
    """Code points the font maps to a glyph and that have a Unicode name (see module docstring), sorted."""
    from fontTools.ttLib import TTFont

    with TTFont(str(font_path), lazy=True) as font:
        cmap = font.getBestCmap() or {}
    keep = []
    for cp in sorted(cmap):
        if any(lo <= cp <= hi for lo, hi in _EXCLUDED_RANGES):
            continue
        if unicodedata.name(chr(cp), "") and unicodedata.category(chr(cp)) not in ("Cf", "Mn", "Me", "Zs"):
            keep.append(cp)
    return keep


def render_emoji(font: ImageFont.FreeTypeFont, char: str, size: int) -> Image.Image | None:
    """One emoji as a ``size`` px square on white (None if it draws nothing)."""
    left, top, right, bottom = font.getbbox(char)
    canvas = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((-left, -top), char, font=font, embedded_color=True)
    return common.to_square_rgb(canvas, size)


def prepare(out: Path, source: Path | None = None, size: int = common.DEFAULT_SIZE,
            workers: int | None = None, limit: int | None = None) -> common.PrepareReport:
    """Write the emoji under ``out``; ``source`` is the font file (or a folder holding NotoColorEmoji.ttf).
    ``workers`` is accepted for a uniform interface; rendering runs in this process (it is fast).
    ``limit``: only the first ``limit`` code points (a quick look); None = all."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    path = common.ensure_debian_package(source, DEFAULT_SOURCE, PACKAGE)
    if path.is_dir():
        path = path / DEFAULT_SOURCE.name
    try:
        font = ImageFont.truetype(str(path), FONT_SIZE)
    except OSError as err:
        raise common.PrepareError(f"cannot load the emoji font {path} at size {FONT_SIZE}: {err}") from err
    out = common.prepare_out_dir(out)
    report = common.PrepareReport(NAME, out)
    rows = []
    for cp in tqdm(emoji_codepoints(path)[:limit], desc=f"{NAME}: rendering", unit="emoji"):
        char, code = chr(cp), f"U+{cp:04X}"
        try:
            image = render_emoji(font, char, size)
        except Exception as err:  # noqa: BLE001  (a glyph Pillow cannot draw is a skipped file, with its reason)
            report.failed.append((code, f"{type(err).__name__}: {err}"))
            continue
        if image is None:
            report.failed.append((code, "renders as an empty image"))
            continue
        filepath = f"{common.IMAGES_DIR}/{cp:05x}.png"
        common.save_png(image, out / filepath)
        rows.append({"filepath": filepath, "title": unicodedata.name(char).lower(), "category": block_name(cp),
                     "codepoint": code})
    common.write_pairs_csv(out, COLUMNS, rows)
    common.write_skipped_csv(out, report.failed)
    report.pairs = len(rows)
    report.seconds = time.perf_counter() - start
    return report
