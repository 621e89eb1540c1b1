"""A debug=fast run as a user starts it (not on a terminal): W&B holds what analysis needs (a numeric table
of every scored pair with readable thumbnails, scores.csv and the models as artifacts, the learning rate),
evaluate.py logs to a run linked to it, the output shows progress and none of the known harmless warnings."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest
import torch

from clipmem.errors import ConfigError
from clipmem.reporting.config import ReportConfig
from clipmem.reporting.tracking import thumbnails

from .conftest import evaluations_of, run_script
from .data_fixtures import write_image_folder
from .test_sweep import _wandb_records

NOISE = ("anonymous setting", "litlogger", "LeafSpec", "💡")


@pytest.fixture(scope="module")
def wandb_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("wandb")
    folder = write_image_folder(root / "shapes", "shape", per_class=2)
    done = run_script("train.py", "debug=fast", "logger=wandb", f"run_dir={root / 'run'}",
                      "+zeroshot@data.zeroshot.shapes=imagefolder", f"data.zeroshot.shapes.root={folder}",
                      "report.wandb_table_size=all", "report.wandb_models=true", cwd=root,
                      env={"WANDB_API_KEY": "", "WANDB_SILENT": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "run", done


def _records(folder: Path) -> list:
    (path,) = glob.glob(str(folder / "wandb" / "offline-run-*" / "run-*.wandb"))
    return list(_wandb_records(Path(path)))


def test_the_output_shows_progress_and_no_known_noise(wandb_run):
    run, done = wandb_run
    output = done.stdout + done.stderr
    assert not [noise for noise in NOISE if noise in output], output[-3000:]
    for line in ("decoding shapes: 16 images ...", "threads: ", "data: 600 pairs; S_S 400, S_C 50, S_I 50, S_E 50",
                 "g: epoch 1/1 (step 7): train loss", "f: per-sample statistics of 100 pairs x 2 views: done in",
                 "f: utility (zero-shot, linear probe, retrieval, validation loss): done in",
                 "scoring: pair estimate of 100 pairs"):
        assert line in output, line
    assert "g: epoch 1/1" in (run / "train.log").read_text()
    summary = done.stdout[done.stdout.index("CLIPMem summary"):]
    assert "linear probe top-1 f / g" in summary and "retrieval R@1 f / g      image→text" in summary
    (offline,) = glob.glob(str(run / "wandb" / "offline-run-*"))
    assert f"wandb sync {offline}" in summary


def test_the_wandb_run_holds_a_numeric_table_the_artifacts_and_the_learning_rate(wandb_run):
    run, _ = wandb_run
    records = _records(run)
    artifacts = {r.artifact.name: [m.path for m in r.artifact.manifest.contents]
                 for r in records if r.WhichOneof("record_type") == "artifact"}
    assert artifacts["scores"] == ["scores.csv"] and "splits" in artifacts
    assert "open_clip_model.safetensors" in artifacts["model-f"] and "clipmem_meta.json" in artifacts["model-g"]
    lr = {}
    for r in records:
        if r.WhichOneof("record_type") == "history":
            for item in r.history.item:
                key = item.key or "/".join(item.nested_key)
                if key.endswith("/train/lr"):
                    lr.setdefault(key, []).append(float(item.value_json))
    assert set(lr) == {"f/train/lr", "g/train/lr"} and len(lr["f/train/lr"]) == 7  # every step of the epoch
    assert lr["f/train/lr"] == lr["g/train/lr"] and lr["f/train/lr"][0] > lr["f/train/lr"][-1] > 0  # cosine decay
    (path,) = glob.glob(str(run / "wandb" / "offline-run-*" / "files" / "media" / "table" / "report" / "*.json"))
    table = json.loads(Path(path).read_text())
    column = table["columns"].index("clipmem")
    values = [row[column] for row in table["data"]]
    assert len(values) == 100  # report.wandb_table_size=all: every scored pair
    assert all(isinstance(v, float) for v in values) and values == sorted(values, reverse=True)
    raw = [row[table["columns"].index("clipmem_raw")] for row in table["data"]]
    assert all(isinstance(v, float) for v in raw)
    assert all(isinstance(row[table["columns"].index("miscaptioned")], bool) for row in table["data"])


def test_evaluate_logs_to_a_run_linked_to_the_training_run(wandb_run):
    run, _ = wandb_run
    done = run_script("evaluate.py", f"run_dir={run}", env={"WANDB_API_KEY": "", "WANDB_SILENT": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    (evaluation,) = evaluations_of(run, None)
    (trained,) = [r.run for r in _records(run) if r.WhichOneof("record_type") == "run"]
    (linked,) = [r.run for r in _records(Path(evaluation)) if r.WhichOneof("record_type") == "run"]
    assert linked.run_group == trained.run_group == trained.display_name and linked.project == trained.project
    assert linked.job_type == "evaluate" and linked.display_name == f"{trained.display_name}/evaluate"
    assert "wandb sync" in done.stdout


def test_the_unitmem_analysis_logs_its_table_and_figure_to_a_linked_run(wandb_run):
    run, _ = wandb_run
    done = run_script("evaluate.py", f"run_dir={run}", "analysis=unitmem", env={"WANDB_API_KEY": "", "WANDB_SILENT": "",
                                                                                 "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    (evaluation,) = evaluations_of(run, "unitmem")
    (linked,) = [r.run for r in _records(evaluation) if r.WhichOneof("record_type") == "run"]
    assert linked.job_type == "evaluate"
    media = evaluation / "wandb" / "offline-run-*" / "files" / "media"
    (path,) = glob.glob(str(media / "table" / "unitmem" / "*.json"))
    table = json.loads(Path(path).read_text())
    assert table["columns"] == ["family", "tower", "layer", "unitmem"]
    curves = json.loads((evaluation / "metrics.json").read_text())["unitmem"]["clip"]
    assert [row[3] for row in table["data"] if row[1] == "image"] == curves["image"]  # the metrics' curve, in order
    assert [row[2] for row in table["data"] if row[1] == "text"] == [1, 2, 3, 4]
    assert glob.glob(str(media / "images" / "report" / "unitmem*"))
    assert "wandb sync" in done.stdout


def test_evaluate_takes_wandb_on_or_off_from_the_command_line():
    from .conftest import compose_config

    assert compose_config(["run_dir=x", "wandb=false"], config_name="evaluate").wandb is False
    assert compose_config(["run_dir=x", "wandb=true"], config_name="evaluate").wandb is True
    assert compose_config(["run_dir=x"], config_name="evaluate").wandb is None


def test_thumbnails_are_upscaled_and_table_sizes_checked():
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    small = thumbnails(images, 96)
    assert small.shape == (3, 96, 96, 3) and torch.equal(small[:, ::3, ::3], images.permute(0, 2, 3, 1))
    assert thumbnails(torch.zeros(1, 3, 128, 128, dtype=torch.uint8), 96).shape == (1, 128, 128, 3)
    assert ReportConfig(wandb_table_size="all").table_rows(500) == ReportConfig(wandb_table_size=-1).table_rows(500)
    assert ReportConfig(wandb_table_size=-1).table_rows(500) == 500 and ReportConfig().table_rows(500) == 32
    with pytest.raises(ConfigError, match="report.wandb_table_size must be a whole number ≥ 1, or all"):
        ReportConfig(wandb_table_size=0)


def test_an_audit_logs_its_suspicion_ranked_table_gallery_and_audit_csv(tmp_path):
    """W&B gets the audit ranked by suspicion (ids as text: 63-bit ids lose digits as browser numbers, numbers as
    numbers, flags as booleans), the gallery of the most suspicious pairs and audit.csv as an artifact."""
    from .data_fixtures import write_pairs

    paths = write_pairs(tmp_path / "pairs", 100)
    run = tmp_path / "run"
    done = run_script("train.py", "experiment=audit", f"data.source.path={paths['csv']}", "design.folds=2",
                      "design.repeats=2", "trainer.max_epochs=1", "data.batch_size=16", "data.source.resolution=32",
                      "data.miscaption.fraction=0.1", "audit.bootstrap_draws=10", "audit.min_steps=0", "logger=wandb",
                      "checkpoints=false",
                      f"run_dir={run}", cwd=tmp_path, env={"WANDB_API_KEY": "", "WANDB_SILENT": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    artifacts = {r.artifact.name: [m.path for m in r.artifact.manifest.contents]
                 for r in _records(run) if r.WhichOneof("record_type") == "artifact"}
    assert artifacts["audit"] == ["audit.csv"]
    media = run / "wandb" / "offline-run-*" / "files" / "media"
    (path,) = glob.glob(str(media / "table" / "audit" / "most_suspicious*.json"))
    table = json.loads(Path(path).read_text())
    column = {name: table["columns"].index(name) for name in ("sample_id", "suspicion", "p_miscaptioned", "flagged")}
    suspicion = [row[column["suspicion"]] for row in table["data"]]
    assert suspicion == sorted(suspicion, reverse=True) and all(isinstance(v, float) for v in suspicion)
    assert all(isinstance(row[column["sample_id"]], str) for row in table["data"])
    assert all(isinstance(row[column["flagged"]], bool) for row in table["data"])
    assert glob.glob(str(media / "images" / "audit" / "gallery*"))
    summary = done.stdout[done.stdout.index("Audit"):]
    assert "rows audited             100" in summary and "estimated wrong pairs" in summary


def test_an_unknown_wandb_key_stops_naming_the_allowed_ones():
    from clipmem.reporting.tracking import WandbOptions, wandb_options

    assert wandb_options({"project": "p", "tags": ["a"]}) == WandbOptions(project="p", tags=["a"])
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['projekt'\]; allowed: save_dir, name, mode, project"):
        wandb_options({"projekt": "p"})
