"""python -m clipmem.prepare on tiny trees with the Debian packages' layouts: rows, captions, files, skips."""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import matplotlib
import pytest
from PIL import Image

from clipmem.prepare import SETS, common, emoji, openclipart, prepare_command, tuxpaint
from clipmem.prepare.__main__ import build_parser, main

from .prepare_fixtures import openclipart_tree, tuxpaint_tree


def read_pairs(out: Path) -> list[dict[str, str]]:
    with (out / "pairs.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def assert_images(out: Path, rows: list[dict[str, str]], size: int) -> None:
    for row in rows:
        with Image.open(out / row["filepath"]) as image:
            assert image.format == "PNG" and image.mode == "RGB" and image.size == (size, size), row["filepath"]


def test_tuxpaint_english_captions_and_skips(tmp_path):
    src = tuxpaint_tree(tmp_path / "stamps")
    out = tmp_path / "out"
    report = tuxpaint.prepare(out, source=src, size=48, workers=1)
    rows = read_pairs(out)
    assert list(rows[0]) == list(tuxpaint.COLUMNS)
    by_source = {r["source"]: r for r in rows}
    assert set(by_source) == {"animals/amphibians/frog.png", "food/apple.png", "food/bread.svg", "symbols/coin.png"}
    assert by_source["animals/amphibians/frog.png"]["title"] == "A frog."  # not a translation line
    assert by_source["food/bread.svg"]["title"] == "A loaf of bread."  # whitespace collapsed
    assert by_source["symbols/coin.png"]["category"] == "symbols"
    assert by_source["food/apple.png"]["filepath"] == "images/food/apple.png"
    assert_images(out, rows, 48)
    with Image.open(out / by_source["food/apple.png"]["filepath"]) as image:
        corner, centre = image.getpixel((0, 0)), image.getpixel((24, 24))
    assert corner == (255, 255, 255) and centre[0] > 200 and centre[1] < 60  # transparency -> white, red kept
    reasons = dict(report.failed)
    assert set(reasons) == {"seasonal/gift.txt", "symbols/blank.png"}
    assert "without a .png or .svg" in reasons["seasonal/gift.txt"] and "empty" in reasons["symbols/blank.png"]
    assert report.pairs == 4 and "2 source files skipped" in report.summary()
    with (out / "skipped.csv").open() as f:
        assert len(list(csv.reader(f))) == 1 + 2


def test_openclipart_metadata_render_pool_and_counted_failures(tmp_path):
    src = openclipart_tree(tmp_path / "svg")
    out = tmp_path / "out"
    report = openclipart.prepare(out, source=src, size=32, workers=2)
    rows = read_pairs(out)
    assert list(rows[0]) == list(openclipart.COLUMNS)
    by_source = {r["source"]: r for r in rows}
    assert set(by_source) == {"animals/cat_01.svg", "computer/icons/flat-theme/nexterror.svg",
                              "shapes/stars/gramastar_02.svg", "unsorted/illustrator_export.svg"}  # link left out
    cat = by_source["animals/cat_01.svg"]
    assert (cat["title"], cat["keywords"], cat["description"], cat["category"]) == (
        "Cat", "animal, cat, mammal", "A sitting cat.", "animals")
    assert by_source["computer/icons/flat-theme/nexterror.svg"]["keywords"] == "hash, action, computer"
    assert by_source["shapes/stars/gramastar_02.svg"]["title"] == "gramastar 02"  # empty dc:title -> file name
    assert by_source["unsorted/illustrator_export.svg"]["title"] == "illustrator export"
    assert_images(out, rows, 32)
    reasons = dict(report.failed)
    assert set(reasons) == {"unsorted/broken.svg", "unsorted/empty.svg"}  # counted and named, never silent
    assert "not valid XML" in reasons["unsorted/broken.svg"] and "empty" in reasons["unsorted/empty.svg"]
    assert report.pairs == 4 and "2 source files skipped" in report.summary()


def test_expand_internal_entities_resolves_only_declared_strings():
    svg = b'<!DOCTYPE svg [\n<!ENTITY ns_svg "http://www.w3.org/2000/svg">\n]>\n<svg xmlns="&ns_svg;">&amp;</svg>'
    assert common.expand_internal_entities(svg) == b'\n<svg xmlns="http://www.w3.org/2000/svg">&amp;</svg>'


def emoji_font() -> Path:
    """The Noto colour font where the Debian package is installed, else matplotlib's DejaVu Sans (always there)."""
    if emoji.DEFAULT_SOURCE.is_file():
        return emoji.DEFAULT_SOURCE
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def test_emoji_unicode_names(tmp_path):
    out = tmp_path / "out"
    report = emoji.prepare(out, source=emoji_font(), size=40, limit=8)
    rows = read_pairs(out)
    assert report.pairs == len(rows) == 8 and not report.failed
    for row in rows:
        char = chr(int(row["codepoint"][2:], 16))
        assert row["title"] == unicodedata.name(char).lower()
        assert ord(char) >= 0xA9 and row["filepath"] == f"images/{ord(char):05x}.png"
    assert_images(out, rows, 40)


def test_cli_help_lists_every_set_and_runs(tmp_path, capsys):
    text = build_parser().format_help()
    assert all(name in text for name in SETS)
    src = tuxpaint_tree(tmp_path / "stamps")
    assert main(["tuxpaint", "--out", str(tmp_path / "o"), "--source", str(src), "--workers", "1", "--size", "16"]) == 0
    assert "tuxpaint: 4 pairs" in capsys.readouterr().out
    assert main(["tuxpaint", "--out", str(tmp_path / "o"), "--source", str(tmp_path / "nowhere")]) == 1
    assert "no such file or directory" in capsys.readouterr().err
    assert prepare_command("openclipart") == "python -m clipmem.prepare openclipart --out data/openclipart"


def test_missing_package_without_root_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(common.os, "geteuid", lambda: 1000)  # never run apt-get from a test
    with pytest.raises(common.PrepareError, match=r"sudo apt-get install openclipart-svg.*--source DIR"):
        common.ensure_debian_package(None, tmp_path / "absent", "openclipart-svg")
