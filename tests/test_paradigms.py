"""The families end to end on small runs: a run of the CLIP family alone is the run it was before families,
``evaluate.py ... analysis=unitmem`` analyses a finished plain CLIP run, a family's own ``max_epochs`` is the
number of epochs its models train, and (slow) the paradigms preset's qualitative finding on a smaller config."""

from __future__ import annotations

import csv
import json

import pytest

from clipmem.data import SplitManifest
from clipmem.errors import ConfigError
from clipmem.families import SSLFamily, SupervisedFamily
from clipmem.families.base import check_epochs, trainer_overrides
from clipmem.families.clip import CLIPFamily
from clipmem.run import run_experiment
from clipmem.scoring.statistics import statistics_key

from .conftest import compose_config, evaluated, evaluations_of, load_settings_for, run_in, run_script

FAST = ["debug=fast", "logger=none"]


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory):
    """A plain CLIP run (no families entry, no paradigms preset), shared by the tests below."""
    return run_in(tmp_path_factory, "clip", FAST)


def test_a_clip_run_is_the_run_it_was_before_families(clip_run, tmp_path):
    explicit = tmp_path / "explicit"
    run_experiment(compose_config([*FAST, "+family@families.clip=clip", f"run_dir={explicit}"]))
    assert (explicit / "scores.csv").read_text() == (clip_run / "scores.csv").read_text()
    assert sorted(p.name for p in (clip_run / "models").iterdir()) == ["f", "g"]  # the design's names
    assert not (clip_run / "families").exists() and not (clip_run / "paradigms.csv").exists()
    header = (clip_run / "scores.csv").read_text().splitlines()[0].split(",")
    assert "mislabeled" not in header and "atypical" not in header
    meta = json.loads((clip_run / "models" / "f" / "clipmem_meta.json").read_text())
    assert "family_config" not in meta
    assert "atypical" not in meta["training_config"]["data"]  # the record runs before the paradigms wrote
    assert "labels" not in meta["training_config"]["data"]["miscaption"]
    metrics = json.loads((clip_run / "metrics.json").read_text())
    assert "families" not in metrics and "paradigms" not in metrics
    settings = load_settings_for(FAST)
    manifest = SplitManifest.read(clip_run / "splits.json")
    plan = settings.design.plan(manifest, settings.seed)
    key = statistics_key(settings.scoring, plan.scored_ids, manifest.sha256)  # no family part: as before families
    assert [p.name for p in (clip_run / "models" / "f").glob("sample_stats-*.safetensors")] == [
        f"sample_stats-{key}.safetensors"]


def test_evaluate_unitmem_on_a_plain_clip_run(clip_run):
    before = {p.name: p.read_bytes() for p in clip_run.iterdir() if p.is_file()}
    result = run_script("evaluate.py", f"run_dir={clip_run}", "analysis=unitmem", timeout=300,
                        env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "UnitMem per layer" in result.stdout
    out = evaluated(clip_run)
    with (out.root / "unitmem.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["model"], r["tower"]) for r in rows} == {(m, t) for m in ("f", "g") for t in ("image", "text")}
    for model in ("f", "g"):
        for tower in ("image", "text"):  # the nano towers' four blocks, once each
            assert sorted(int(r["layer"]) for r in rows if (r["model"], r["tower"]) == (model, tower)) == [1, 2, 3, 4]
    values = [float(r["unitmem"]) for r in rows]
    assert all(0.0 < v < 1.0 for v in values)  # no unit of a trained tower is silent or single-sample everywhere
    assert (out.root / "report" / "unitmem.png").stat().st_size > 1000
    metrics = json.loads(out.metrics.read_text())
    assert len(metrics["unitmem"]["clip"]["image"]) == 4 and len(metrics["unitmem"]["clip"]["text"]) == 4
    assert json.loads(out.evaluation_record.read_text())["analysis"] == "unitmem"
    assert {p.name: p.read_bytes() for p in clip_run.iterdir() if p.is_file()} == before  # the run untouched


def test_evaluate_layermem_on_a_plain_clip_run(clip_run):
    before = {p.name: p.read_bytes() for p in clip_run.iterdir() if p.is_file()}
    result = run_script("evaluate.py", f"run_dir={clip_run}", "analysis=layermem", timeout=300,
                        env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LayerMem per layer" in result.stdout
    (out,) = evaluations_of(clip_run, "layermem")
    with (out / "layermem.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["family"], int(r["layer"])) for r in rows] == [("clip", k) for k in (1, 2, 3, 4)]
    manifest = SplitManifest.read(clip_run / "splits.json")
    scored = len(manifest.candidate) + len(manifest.independent)
    bad = len(manifest.miscaptioned)  # a CLIP run has no labels: its mis-captions are the "mislabeled" group
    for row in rows:
        assert int(row["num_samples"]) == scored
        overall = float(row["layermem"])
        assert -2.0 <= overall <= 2.0  # a difference of two mean distances of unit vectors
        parts = (scored - bad) * float(row["layermem_clean"]) + bad * float(row["layermem_mislabeled"])
        assert parts / scored == pytest.approx(overall, abs=1e-9)  # the groups split the same scores
        assert row["layermem_atypical"] == "nan"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["layermem"]["clip"] == [float(r["layermem"]) for r in rows]
    assert metrics["clip_layermem_layer4"] == metrics["layermem"]["clip"][3]
    assert (out / "report" / "layermem.png").stat().st_size > 1000
    assert {p.name: p.read_bytes() for p in clip_run.iterdir() if p.is_file()} == before


def test_evaluate_refuses_an_unknown_analysis_or_a_rescore_with_it(clip_run):
    from clipmem.run.evaluate import evaluate_run_dir

    with pytest.raises(ConfigError, match="analysis must be one of"):
        evaluate_run_dir(clip_run, analysis="bogus")
    with pytest.raises(ConfigError, match="does not re-score"):
        evaluate_run_dir(clip_run, {"num_views": 2}, analysis="unitmem")


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3"])
def test_a_familys_max_epochs_must_be_a_whole_number(value):
    with pytest.raises(ConfigError, match="max_epochs must be a whole number"):
        check_epochs(value, "ssl")


def test_a_familys_max_epochs_overrides_the_trainers_and_is_recorded():
    assert trainer_overrides(CLIPFamily()) == {} and CLIPFamily().describe() == {}  # CLIP alone: nothing added
    assert trainer_overrides(SupervisedFamily(max_epochs=3)) == {"max_epochs": 3}
    assert SSLFamily(max_epochs=2).describe()["max_epochs"] == 2
    assert CLIPFamily(max_epochs=4).describe() == {"family": "clip", "max_epochs": 4}
    with pytest.raises(ConfigError, match="families.supervised.max_epochs"):
        load_settings_for(["experiment=paradigms", "families.supervised.max_epochs=0"])


def test_families_train_for_their_own_epochs(tmp_path):
    """debug=fast trains one epoch; the supervised family's two epochs take twice its steps, and the SSL family
    without its own (null) takes the trainer's."""
    run_dir = tmp_path / "run"
    metrics = run_experiment(compose_config([*FAST, "experiment=paradigms", "families.supervised.max_epochs=2",
                                             "families.ssl.max_epochs=null",
                                             "analysis.unitmem=false", "data.atypical.fraction=0.1",
                                             f"run_dir={run_dir}"]))
    steps = {name: json.loads((run_dir / "models" / name / "clipmem_meta.json").read_text())["global_step"]
             for name in ("clip_f", "supervised_f", "ssl_f")}
    assert steps["supervised_f"] == 2 * steps["clip_f"] and steps["ssl_f"] == steps["clip_f"] > 0
    assert metrics["families"] == ["clip", "supervised", "ssl"]
    with (run_dir / "paradigms.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["family"] for r in rows] == ["clip", "supervised", "ssl"]
    assert all(0.0 <= float(r["mislabel_auc"]) <= 1.0 and 0.0 <= float(r["atypical_auc"]) <= 1.0 for r in rows)
    assert (run_dir / "report" / "paradigms.png").is_file()


SMALL_PARADIGMS = ["experiment=paradigms", "~family@families.clip", "logger=none", "callbacks.utility=null",
                   "callbacks.clipmem=null", "analysis.unitmem=false", "data.source.num_samples=1400",
                   "data.splits.shared=600", "data.splits.candidate=200", "data.splits.independent=200",
                   "data.splits.extra=200", "data.zeroshot.synthetic.num_samples=300", "data.atypical.fraction=0.1",
                   "families.supervised.max_epochs=40", "families.ssl.max_epochs=40"]


@pytest.mark.slow
def test_paradigms_preset_on_a_smaller_config_separates_what_each_family_memorizes(tmp_path):
    """The qualitative finding the preset measures, on 600 shared pairs and 200 candidates, with the supervised and
    SSL families alone (4½ to 6½ minutes on 2 busy cores): the supervised score ranks the mislabeled pairs above
    the clean ones and the SSL score ranks the atypical samples above the clean ones, each with a 95 % interval
    above 0.5. (Measured with seed 0: supervised 0.69 [0.60, 0.79], SSL 0.67 [0.58, 0.77]; 20 mislabeled and
    20 atypical samples per split, so the intervals are wide.)"""
    metrics = run_experiment(compose_config([*SMALL_PARADIGMS, f"run_dir={tmp_path}"]))
    assert metrics["families"] == ["supervised", "ssl"]
    assert metrics["supervised_mislabel_auc_low"] > 0.5
    assert metrics["ssl_atypical_auc_low"] > 0.5


@pytest.mark.slow  # keeps make test under 15 minutes on 2 cores; make test-all runs it
def test_the_comparison_table_and_figure_go_to_wandb(tmp_path):
    """experiment=paradigms with a W&B logger (offline): the comparison table, one row per family, and the
    comparison figure are in the W&B run."""
    done = run_script("train.py", *FAST, "experiment=paradigms", "logger=wandb", "families.supervised.max_epochs=null",
                      "families.ssl.max_epochs=null", "data.atypical.fraction=0.1", "analysis.samples=50",
                      "analysis.views=2", f"run_dir={tmp_path / 'run'}", cwd=tmp_path,
                      env={"WANDB_API_KEY": "", "WANDB_SILENT": "", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    media = tmp_path / "run" / "wandb"
    (table_path,) = media.glob("offline-run-*/files/media/table/paradigms/comparison*.json")
    table = json.loads(table_path.read_text())
    family = table["columns"].index("family")
    assert [row[family] for row in table["data"]] == ["clip", "supervised", "ssl"]
    assert "mislabel_auc" in table["columns"] and "atypical_auc" in table["columns"]
    assert list(media.glob("offline-run-*/files/media/images/report/paradigms*.png"))
