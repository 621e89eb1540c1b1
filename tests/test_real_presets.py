"""experiment=openclipart / experiment=tuxpaint: compose without data, fail with the prepare command when
the data is missing, and run end to end on a prepared tree with the Tux Paint layout."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from clipmem.config import instantiate_checked
from clipmem.data.sources.prepared import PreparedCsvSource
from clipmem.errors import ConfigError
from clipmem.prepare import tuxpaint

from .conftest import compose_config
from .prepare_fixtures import tuxpaint_tree

PRESETS = ("openclipart", "tuxpaint")


@pytest.mark.parametrize("name", PRESETS)
def test_preset_composes_and_builds_without_data_then_names_the_prepare_command(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/ here
    cfg = compose_config([f"experiment={name}", "run_dir=/tmp/unused"])
    assert cfg.name == name and cfg.data.source.path == f"data/{name}/pairs.csv"
    assert cfg.data.zeroshot.animal_mnist._target_.endswith("AnimalMNISTZeroShot")
    settings = instantiate_checked(cfg.data, "data")  # instantiating needs no data either
    with pytest.raises(ConfigError, match=f"`python -m clipmem.prepare {name} --out data/{name}`"):
        settings.check_sources()  # what the run checks before anything loads


def test_missing_data_is_one_clean_line(tmp_path, monkeypatch, capsys):
    from clipmem.cli import run_cli
    from clipmem.run import run_experiment

    monkeypatch.chdir(tmp_path)
    cfg = compose_config(["experiment=tuxpaint", "logger=none", f"run_dir={tmp_path / 'run'}"])
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: run_experiment(cfg))  # what train.py does
    assert stop.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clipmem: error: "), lines
    assert "python -m clipmem.prepare tuxpaint --out data/tuxpaint" in lines[0]


def many_stamps(root, n: int = 72):
    """``n`` stamps in 4 categories: a coloured shape on transparency with a caption naming both."""
    colours = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "orange": (245, 140, 30)}
    shapes = ("circle", "square", "triangle")
    cats = ("animals", "food", "town", "symbols")
    for i in range(n):
        colour, shape, cat = list(colours)[(i // 4) % 4], shapes[(i // 16) % 3], cats[i % 4]
        folder = root / cat / f"set{i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        box = (6 + i % 5, 6, 34, 34 - i % 4)
        if shape == "circle":
            draw.ellipse(box, fill=colours[colour])
        elif shape == "square":
            draw.rectangle(box, fill=colours[colour])
        else:
            draw.polygon([(box[0], box[3]), (box[2], box[3]), (20, box[1])], fill=colours[colour])
        image.save(folder / f"stamp{i:03d}.png")
        (folder / f"stamp{i:03d}.txt").write_text(f"A {colour} {shape}, number {i}.\nfr.utf8=Un objet.\n")
    return root


def test_prepared_source_adds_attributes_from_columns(tmp_path):
    out = tmp_path / "prepared"
    tuxpaint.prepare(out, source=tuxpaint_tree(tmp_path / "stamps"), size=16, workers=1)
    table = PreparedCsvSource("tuxpaint", str(out / "pairs.csv"), attribute_keys=["category", "title"],
                              resolution=16).load()
    with (out / "pairs.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(table) == len(rows) == 4 and table.captions[0] == [rows[0]["title"]]
    cats = [r["category"] for r in rows]
    codes = table.attributes["category"]
    assert all((codes[i] == codes[j]) == (cats[i] == cats[j]) for i in range(4) for j in range(4))
    assert len(np.unique(table.attributes["title"])) == 4
    with pytest.raises(ConfigError, match="no column"):
        PreparedCsvSource("tuxpaint", str(out / "pairs.csv"), attribute_keys=["nope"], resolution=16).load()
    cached = PreparedCsvSource("tuxpaint", str(out / "pairs.csv"), resolution=16, cache_dir=str(tmp_path / "c"))
    assert cached.cache_dir == str(tmp_path / "c") and cached.load().images.shape[0] == 4  # where the features go too
    assert list((tmp_path / "c").glob("decoded-*.pt"))


def test_tuxpaint_preset_runs_end_to_end_on_a_prepared_tree(tmp_path):
    from clipmem.run import run_experiment

    out = tmp_path / "data" / "tuxpaint"
    report = tuxpaint.prepare(out, source=many_stamps(tmp_path / "stamps"), size=32, workers=1)
    assert report.pairs == 72 and not report.failed
    run_dir = tmp_path / "run"
    cfg = compose_config([
        "experiment=tuxpaint", "logger=none", f"run_dir={run_dir}", f"data.source.path={out / 'pairs.csv'}",
        "data.source.resolution=32", "data.splits={shared: 36, candidate: 12, independent: 12, extra: 12}",
        "data.miscaption.fraction=0.5", "data.miscaption.sets=[candidate]",
        "data.zeroshot.animal_mnist.num_samples=50", "trainer.max_epochs=1",
        "scoring.num_views=2", "checkpoints=false", "data.batch_size=16",
    ])
    metrics = run_experiment(cfg)
    with (run_dir / "scores.csv").open(newline="") as f:
        scores = list(csv.DictReader(f))
    assert len(scores) == 24 and sum(r["miscaptioned"] in ("1", "True", "true") for r in scores) == 6  # S_C + S_I
    assert 0.0 <= metrics["clipmem_mean"] <= 1.0 and "miscaption_auc" in metrics
    assert "zeroshot_animal_mnist_top1_f" in metrics
    assert (run_dir / "report" / "most_memorized.png").is_file()
    assert json.loads((run_dir / "models" / "f" / "clipmem_meta.json").read_text())["global_step"] == 3  # 48 / 16


def test_the_coco_preset_composes_and_a_cpu_dry_run_takes_a_few_steps(tmp_path):
    """experiment=coco_vitb32 as a user runs it on a GPU, shrunk to run here: ViT-B/32 at 32 px on the CPU, 200
    pairs, one step per model; the preset's own values compose as documented."""
    from clipmem.run import run_experiment

    from .conftest import compose_config
    from .data_fixtures import write_pairs

    full = compose_config(["experiment=coco_vitb32", "data.source.path=x.csv"])
    assert full.model.arch == "ViT-B-32" and full.hardware.precision == "bf16-mixed"
    assert dict(full.data.splits) == {"shared": 65000, "candidate": 5000, "independent": 5000, "extra": 5000}
    paths = write_pairs(tmp_path / "pairs", 200)
    metrics = run_experiment(compose_config([
        "experiment=coco_vitb32", f"data.source.path={paths['csv']}", "hardware=cpu", "model.image_size=32",
        "data.source.resolution=32", "data.splits={shared: 100, candidate: 30, independent: 30, extra: 40}",
        "data.batch_size=32", "trainer.max_epochs=1", "+trainer.limit_train_batches=1", "scoring.bf16=false",
        "scoring.num_views=1", "callbacks=none", "logger=none", "checkpoints=false", f"run_dir={tmp_path / 'run'}"]))
    assert metrics["num_candidates"] == 60 and 0.0 <= metrics["miscaption_auc"] <= 1.0
    meta = (tmp_path / "run" / "models" / "f" / "clipmem_meta.json").read_text()
    assert "\"global_step\": 1" in meta
