"""docs/extending.md, proven: a model family, a design, a data source and a mitigation defined outside the package
(tests/plugins/) run end to end through train.py by ``_target_`` alone; nothing under clipmem/ names them."""

from __future__ import annotations

import json

import pytest

from .conftest import ROOT, run_script

FAST = ("debug=fast", "callbacks=none", "trainer.enable_progress_bar=false")


def _train(tmp_path, *overrides, flags=(), base=FAST):
    run_dir = tmp_path / "run"
    done = run_script("train.py", *flags, *base, *overrides, f"run_dir={run_dir}", cwd=tmp_path,
                      env={"PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


def test_no_file_of_the_package_names_a_plugin():
    names = ("tests.plugins", "FrozenTextFamily", "frozen_text", "TwoHalves", "two_halves", "ImageEmbeddingNoise")
    hits = [f"{p.relative_to(ROOT)}: {name}" for p in (ROOT / "clipmem").rglob("*.py") for name in names
            if name in p.read_text()]
    assert not hits, hits


def test_a_family_outside_the_package(tmp_path):
    run_dir, metrics = _train(tmp_path, "+families.clip._target_=clipmem.families.CLIPFamily",
                              "+families.frozen_text._target_=tests.plugins.family.FrozenTextFamily",
                              "optimized_metric=frozen_text_clipmem_raw_mean")
    assert metrics["families"] == ["clip", "frozen_text"] and "frozen_text_miscaption_auc" in metrics
    row = next(r for r in metrics["paradigms"] if r["family"] == "frozen_text")
    assert row["score"] == "CLIPMem (text tower frozen)" and row["colour"] == "tab:brown"
    assert (run_dir / "families" / "frozen_text" / "scores.csv").is_file()
    meta = json.loads((run_dir / "models" / "frozen_text_f" / "clipmem_meta.json").read_text())
    assert meta["family_config"] == {"family": "frozen_text", "lock_text": True}


def test_a_design_outside_the_package(tmp_path):
    run_dir, metrics = _train(tmp_path, "~design", "+design._target_=tests.plugins.design.TwoHalves", "+design.draw=3")
    assert metrics["design"] == "two_halves" and metrics["two_halves_draw"] == 3.0
    assert metrics["num_models"] == 2 and metrics["num_candidates"] == 100
    assert sorted(p.name for p in (run_dir / "models").iterdir()) == ["a", "b"]


def test_a_data_source_outside_the_package(tmp_path):
    config = tmp_path / "my_conf" / "data"
    config.mkdir(parents=True)
    (config / "bars.yaml").write_text("defaults:\n  - _base\n  - _self_\nsource:\n"
                                      "  _target_: tests.plugins.source.Bars\n"
                                      "  num_samples: 600\nzeroshot: {}\n")
    small = ("logger=none", "checkpoints=false", "callbacks=none", "trainer.max_epochs=1", "scoring.num_views=2",
             "data.splits={shared: 400, candidate: 50, independent: 50, extra: 50}")
    run_dir, metrics = _train(tmp_path, "data=bars", flags=("--config-dir", str(tmp_path / "my_conf")), base=small)
    assert metrics["num_candidates"] == 100 and 0.0 <= metrics["miscaption_auc"] <= 1.0
    with (run_dir / "scores.csv").open() as f:
        assert " bar at height " in f.read()


@pytest.mark.parametrize("sigma", [0.2])
def test_a_mitigation_outside_the_package(tmp_path, sigma):
    run_dir, metrics = _train(tmp_path, "mitigation._target_=tests.plugins.mitigation.ImageEmbeddingNoise",
                              f"+mitigation.sigma={sigma}")
    saved = json.loads((run_dir / "models" / "f" / "clipmem_meta.json").read_text())["training_config"]
    assert saved["mitigation"] == {"_target_": "tests.plugins.mitigation.ImageEmbeddingNoise", "sigma": sigma}
    assert metrics["num_candidates"] == 100
