"""The cached image resolution follows the model's input size unless set, and caching below it is warned
about in one line (the synthetic renders, small by design, excepted)."""

from __future__ import annotations

import logging

import pytest

from .conftest import build_data_for, load_settings_for
from .data_fixtures import write_image_folder, write_pairs

SPLITS = "data.splits={shared: 8, candidate: 4, independent: 4, extra: 4}"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("res")
    return {**write_pairs(root, 24), "folder": write_image_folder(root / "folder", "shape", per_class=1)}


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "px is below" in r.getMessage()]


def test_vit_b32_on_csv_caches_at_224_px(files, caplog):
    with caplog.at_level(logging.WARNING):
        data = build_data_for(["logger=none", "model=vit_b32", "data=csv", f"data.source.path={files['csv']}", SPLITS,
                               "+zeroshot@data.zeroshot.shapes=imagefolder",
                               f"data.zeroshot.shapes.root={files['folder']}"])
    assert data.table.images.shape[1:] == (3, 224, 224)
    assert data.zeroshot["shapes"].images.shape[1:] == (3, 224, 224)
    assert _warnings(caplog) == []


@pytest.mark.parametrize("data", ["csv", "wds"])
def test_each_file_source_follows_the_model(files, data):
    where = f"data.source.path={files['csv']}" if data == "csv" else f"data.source.urls='{files['shards']}'"
    for model, side in (("nano", 32), ("rn50", 224)):
        settings = load_settings_for(["logger=none", f"model={model}", f"data={data}", where])
        assert settings.data.source.resolution == side == settings.data.image_size


def test_caching_below_the_model_input_is_one_warning_line(files, caplog):
    with caplog.at_level(logging.WARNING):
        load_settings_for(["logger=none", "model=vit_b32", "data=csv", f"data.source.path={files['csv']}",
                           "data.source.resolution=64"])
    (line,) = _warnings(caplog)
    assert line.startswith("data.source.resolution=64 px is below the model's input (model.image_size=224)")
    assert "upsampled 3.5x" in line and "\n" not in line


def test_the_synthetic_default_is_unchanged(caplog):
    with caplog.at_level(logging.WARNING):
        assert load_settings_for(["logger=none"]).data.source.resolution == 32
        preset = load_settings_for(["logger=none", "experiment=synthetic_vitb32"]).data
    assert preset.source.resolution == 64 and preset.image_size == 224  # rendered small by design: no warning
    assert _warnings(caplog) == []
