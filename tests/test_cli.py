"""The entry points as a user runs them: errors, W&B offline, sweeps."""

import json

import pytest

from .conftest import evaluated, run_script


def _error_lines(done):
    return [line for line in done.stderr.splitlines() if line.startswith("clipmem: error:")]


def test_split_sizes_that_do_not_fit(tmp_path):
    run_dir = tmp_path / "run"
    done = run_script("train.py", "debug=fast", "data.splits.shared=100000", f"run_dir={run_dir}",
                      f"hydra.run.dir={run_dir}")
    assert done.returncode == 1
    lines = _error_lines(done)
    assert len(lines) == 1 and "data.splits need 100150 samples" in lines[0], done.stderr[-1500:]
    assert "Traceback" not in done.stderr
    assert not (run_dir / "metrics.json").exists()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "failed"


def test_unknown_group_option_is_named():
    done = run_script("train.py", "model=vit_q99")
    assert done.returncode != 0
    assert "Could not find 'model/vit_q99'" in done.stderr
    assert "nano" in done.stderr  # Hydra lists the available options


def test_evaluate_refuses_a_run_without_models(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "splits.json").write_text("{}")
    done = run_script("evaluate.py", f"run_dir={tmp_path}")
    assert done.returncode == 1
    lines = _error_lines(done)
    assert len(lines) == 1 and "no trained model" in lines[0], done.stderr[-1500:]
    assert not (tmp_path / "metrics.json").exists()


def test_evaluate_refuses_a_missing_directory(tmp_path):
    done = run_script("evaluate.py", f"run_dir={tmp_path / 'nope'}")
    assert done.returncode == 1 and "does not exist" in _error_lines(done)[0]


def test_train_with_wandb_offline_then_evaluate(tmp_path):
    done = run_script("train.py", "debug=fast", "logger=wandb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "mis-caption AUC" in done.stdout
    (run_dir,) = (tmp_path / "outputs" / "default").iterdir()
    assert str(run_dir) in done.stdout  # the summary names the run directory
    (wandb_run,) = (run_dir / "wandb").glob("offline-run-*")
    media = wandb_run / "files" / "media"
    assert list(media.glob("table/report/top_memorized_*.table.json")), "no table of memorized pairs in W&B"
    assert list(media.glob("images/report/histogram_*.png")), "no score histogram in W&B"
    assert (run_dir / ".hydra" / "overrides.yaml").is_file()
    done = run_script("evaluate.py", f"run_dir={run_dir}", "scoring.normalisation=none", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    evaluation = evaluated(run_dir)
    assert str(evaluation.root) in done.stdout
    metrics = json.loads(evaluation.metrics.read_text())
    assert metrics["clipmem_mean"] == metrics["clipmem_raw_mean"]  # the override took effect
    assert json.loads(evaluation.evaluation_record.read_text())["scoring_overrides"] == {"normalisation": "none"}


@pytest.mark.slow  # keeps make test under 15 minutes on 2 cores; make test-all runs it
def test_multirun_gives_each_job_its_own_directory(tmp_path):
    done = run_script("train.py", "-m", "debug=fast", "seed=0,1", "trainer.max_epochs=1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "default" / "multirun").iterdir()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    seeds = [json.loads((sweep / j / "metrics.json").read_text())["seed"] for j in jobs]
    assert seeds == [0, 1]


def _tree_digest(root):
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_refused_run_leaves_the_existing_run_directory_byte_identical(tmp_path):
    """Hydra no longer writes .hydra/ or train.log into the run directory before clipmem checks it: a second run
    into a finished run's directory is refused and changes no file, so evaluate.py re-scores the original."""
    run_dir = tmp_path / "run"
    done = run_script("train.py", "debug=fast", "trainer.max_epochs=1", "logger=none", f"run_dir={run_dir}",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "g: epoch 1/1" in (run_dir / "train.log").read_text()
    assert (run_dir / ".hydra" / "overrides.yaml").is_file()
    before = _tree_digest(run_dir)
    again = run_script("train.py", "debug=fast", "trainer.max_epochs=1", "seed=7", "logger=none",
                       f"run_dir={run_dir}", cwd=tmp_path)
    assert again.returncode == 1 and "already holds a run" in _error_lines(again)[0]
    assert _tree_digest(run_dir) == before


def test_evaluate_works_from_another_directory_after_a_run_with_relative_paths(tmp_path):
    """Relative data paths are stored absolute when the run starts: evaluate.py finds the data from anywhere."""
    from .data_fixtures import write_pairs

    work = tmp_path / "work"
    write_pairs(work / "mine", 120)
    run_dir = tmp_path / "run"
    done = run_script("train.py", "data=csv", "data.source.path=mine/pairs.csv", "data.source.resolution=32",
                      "trainer.max_epochs=1", "scoring.num_views=1", "data.batch_size=16", "callbacks=none",
                      "data.splits={shared: 60, candidate: 20, independent: 20, extra: 20}", "logger=none",
                      f"run_dir={run_dir}", cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    assert str(work / "mine" / "pairs.csv") in (run_dir / ".hydra" / "config.yaml").read_text()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = run_script("evaluate.py", f"run_dir={run_dir}", cwd=elsewhere)
    assert again.returncode == 0, again.stderr[-3000:]
