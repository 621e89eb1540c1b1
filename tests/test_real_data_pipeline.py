"""The real pipeline on file-based data: CSV and webdataset give the same splits and scores; bad samples
are skipped and recorded; several image-folder zero-shot sets are evaluated side by side."""

import csv
import dataclasses
import json

import pytest

from clipmem.data import SplitManifest
from clipmem.run import run_experiment
from clipmem.rundir import KEYS_NAME, SKIPPED_NAME

from .conftest import compose_config
from .data_fixtures import write_image_folder, write_pairs

NUM = 420
BAD = {5: "missing", 17: "corrupt", 33: "empty"}
FAST = [
    "logger=none", "checkpoints=false", "trainer.max_epochs=1", "scoring.num_views=2",
    "data.splits={shared:300,candidate:40,independent:40,extra:30}", "data.miscaption.fraction=0.25",
    "data.on_bad_sample=skip", "callbacks.clipmem=null", "callbacks.utility.retrieval=false",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A CSV run, a webdataset run and a streaming webdataset run of the same pairs (3 bad), each with two
    image-folder zero-shot sets."""
    root = tmp_path_factory.mktemp("real")
    paths = write_pairs(root / "pairs", NUM, bad=BAD)
    shapes = write_image_folder(root / "shapes", "shape", per_class=4, corrupt=1)
    colours = write_image_folder(root / "colours", "colour", per_class=4)
    zeroshot = [
        "+zeroshot@data.zeroshot.shapes=imagefolder", f"data.zeroshot.shapes.root={shapes}",
        "data.zeroshot.shapes.resolution=32",
        "+zeroshot@data.zeroshot.colours=imagefolder", f"data.zeroshot.colours.root={colours}",
        "data.zeroshot.colours.resolution=32", "data.zeroshot.colours.templates=['a {} shape.','something {}.']",
    ]
    out = {}
    wds = ["data=wds", f"data.source.urls='{paths['shards']}'"]
    for name, data in (("csv", ["data=csv", f"data.source.path={paths['csv']}"]), ("wds", wds),
                       ("stream", [*wds, "data.source.streaming=true", "data.source.shuffle_buffer=64"])):
        run_dir = root / name
        cfg = compose_config([*data, "data.source.resolution=32", *FAST, *zeroshot, f"run_dir={run_dir}"])
        metrics = run_experiment(cfg)
        out[name] = (run_dir, metrics)
    return out


def test_csv_and_webdataset_give_the_same_splits_and_scores(runs):
    (csv_dir, _), (wds_dir, _) = runs["csv"], runs["wds"]
    assert (csv_dir / "splits.json").read_text() == (wds_dir / "splits.json").read_text()
    assert (csv_dir / "scores.csv").read_text() == (wds_dir / "scores.csv").read_text()
    scores = list(csv.DictReader((csv_dir / "scores.csv").open()))
    assert len(scores) == 80 and sum(int(r["miscaptioned"]) for r in scores) == 20  # S_C and S_I
    keys = list(csv.DictReader((wds_dir / KEYS_NAME).open()))
    assert keys[0] == {"sample_id": "0", "key": "000000000"} and len(keys) == NUM - len(BAD)


def test_skip_records_exactly_the_bad_ids_and_trains_on_the_rest(runs):
    for run_dir, metrics in runs.values():
        records = list(csv.DictReader((run_dir / SKIPPED_NAME).open()))
        data = [r for r in records if r["source"] == "data"]
        assert sorted(int(r["sample_id"]) for r in data) == sorted(BAD)
        assert [r["source"] for r in records if r["source"] != "data"] == ["zeroshot:shapes"]
        assert metrics["num_skipped"] == len(BAD) + 1
        assert json.loads((run_dir / "metrics.json").read_text())["num_skipped"] == len(BAD) + 1
        splits = json.loads((run_dir / "splits.json").read_text())
        used = {i for name in ("shared", "candidate", "independent", "extra") for i in splits[name]}
        assert len(used) == 410 and not used & set(BAD)


def test_streaming_draws_the_same_splits_and_trains_f_and_g_for_equal_steps(runs):
    (wds_dir, _), (stream_dir, metrics) = runs["wds"], runs["stream"]
    stream, held = SplitManifest.read(stream_dir / "splits.json"), SplitManifest.read(wds_dir / "splits.json")
    assert dataclasses.replace(stream, fingerprints={}) == dataclasses.replace(held, fingerprints={})  # same ids
    assert {k: stream.fingerprints[k] for k in ("candidate", "extra")} == {  # the decoded splits: same content
        k: held.fingerprints[k] for k in ("candidate", "extra")}
    assert "shards" in stream.fingerprints and "shared" not in stream.fingerprints  # streamed: the shards' digest
    steps = {role: json.loads((stream_dir / "models" / role / "clipmem_meta.json").read_text())["global_step"]
             for role in ("f", "g")}
    assert steps["f"] == steps["g"] == 5  # 340 training pairs // batch 64
    assert len(list(csv.DictReader((stream_dir / "scores.csv").open()))) == 80
    assert 0.0 <= metrics["clipmem_mean"] <= 1.0 and metrics["num_skipped"] == len(BAD) + 1
    keys = list(csv.DictReader((stream_dir / KEYS_NAME).open()))
    assert len(keys) == NUM - len(BAD)  # every pair's key, not only those held in memory


def test_several_zero_shot_sets_are_reported_separately(runs):
    _, metrics = runs["csv"]
    for role in ("f", "g"):
        for name in ("shapes", "colours"):
            value = metrics[f"zeroshot_{name}_top1_{role}"]
            assert 0.0 <= value <= 1.0
            assert f"zeroshot_{name}_top5_{role}" in metrics
        assert metrics[f"zeroshot_top1_{role}"] == metrics[f"zeroshot_shapes_top1_{role}"]  # the first set heads


def test_a_held_out_probe_labels_s_e_by_a_csv_column(tmp_path):
    """zeroshot=heldout: the run's own S_E images with the classes of a CSV column, probed for f and g."""
    import csv as csv_module

    import torch

    from clipmem.data.build import build_data

    from .conftest import compose_config, load_settings_for
    from .data_fixtures import write_pairs

    paths = write_pairs(tmp_path / "pairs", 120)
    rows = list(csv_module.DictReader(paths["csv"].open()))
    labelled = tmp_path / "pairs" / "labelled.csv"
    with labelled.open("w", newline="") as f:
        writer = csv_module.DictWriter(f, fieldnames=["filepath", "title", "category"])
        writer.writeheader()
        writer.writerows({"filepath": r["filepath"], "title": r["title"], "category": r["title"].split()[-1]}
                         for r in rows)
    overrides = ["data=csv", f"data.source.path={labelled}", "data.source.resolution=32",
                 "data.splits={shared: 60, candidate: 20, independent: 20, extra: 20}",
                 "+zeroshot@data.zeroshot.heldout=heldout"]
    data = build_data(load_settings_for(overrides).data)
    probe = data.zeroshot["heldout"]
    assert len(probe.labels) == 20 and torch.equal(probe.images, data.pairs("extra").images)
    shapes = {r["filepath"]: r["title"].split()[-1] for r in rows}
    assert [probe.classnames[int(k)] for k in probe.labels] == [
        shapes[f"images/{sid}.png"] for sid in data.manifest.extra]
    assert compose_config(overrides).data.zeroshot.heldout.label_key == "category"
