"""The run directory: every file name in it, its status file, and checks before reading it.

Layout (docs/configuration.md, "The run directory")::

    .hydra/config.yaml, overrides.yaml   splits.json   status.json   metrics.json   scores.csv
    run.lock   (only while a process writes into the directory)
    models/<name>/   open_clip local-dir model + clipmem_meta.json + sample_stats-<key>.safetensors + utility.json
    checkpoints/<name>/   report/*.png   removed.csv   skipped_samples.csv   sample_keys.csv   wandb/   csv/
    audit.csv   clean.csv   (experiment=audit)
    evaluations/<date>_<time>/   one re-score by evaluate.py: its own scores.csv, metrics.json, report/, ...
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
import traceback
from pathlib import Path
from typing import Any

from clipmem.errors import RunDirError
from clipmem.io import atomic_write_json

STATUS_NAME = "status.json"
METRICS_NAME = "metrics.json"
SCORES_NAME = "scores.csv"
SPLITS_NAME = "splits.json"
SKIPPED_NAME = "skipped_samples.csv"
KEYS_NAME = "sample_keys.csv"
REMOVED_NAME = "removed.csv"
AUDIT_NAME = "audit.csv"
CLEAN_NAME = "clean.csv"
# inside models/<name>/: open_clip's local-dir format plus clipmem's records
MODEL_CONFIG_NAME = "open_clip_config.json"
MODEL_WEIGHTS_NAME = "open_clip_model.safetensors"
MODEL_META_NAME = "clipmem_meta.json"
MODEL_UTILITY_NAME = "utility.json"
LAST_CHECKPOINT = "last"  # checkpoints/<name>/last.ckpt, rewritten every epoch
LOCK_NAME = "run.lock"  # the writing process (clipmem/run/runlock.py); gone once the run ends
EVALUATION_RECORD = "evaluation.json"  # in evaluations/<stamp>/: what was re-scored, how


class RunDir:
    """Paths of one experiment's outputs; the only place that spells a run directory's file names."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def splits(self) -> Path:
        return self.root / SPLITS_NAME

    @property
    def scores(self) -> Path:
        return self.root / SCORES_NAME

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_NAME

    @property
    def status(self) -> Path:
        return self.root / STATUS_NAME

    @property
    def removed(self) -> Path:
        """Ids left out of training by ``remove_topk`` (absent otherwise)."""
        return self.root / REMOVED_NAME

    @property
    def audit(self) -> Path:
        """The audit's ranking of every pair (``audit.enabled``)."""
        return self.root / AUDIT_NAME

    @property
    def clean(self) -> Path:
        """The input CSV minus the flagged pairs (``audit.write_clean``)."""
        return self.root / CLEAN_NAME

    @property
    def skipped(self) -> Path:
        """Bad samples left out under ``data.on_bad_sample=skip`` (absent when none were)."""
        return self.root / SKIPPED_NAME

    @property
    def sample_keys(self) -> Path:
        """``sample_id,key`` where ids were derived from string keys (absent otherwise)."""
        return self.root / KEYS_NAME

    @property
    def config(self) -> Path:
        return self.root / ".hydra" / "config.yaml"

    @property
    def wandb_record(self) -> Path:
        """``logger=wandb``: the W&B run's id, project, entity, group and name (what evaluate.py links to)."""
        return self.root / "wandb" / "clipmem_run.json"

    @property
    def overrides(self) -> Path:
        return self.root / ".hydra" / "overrides.yaml"

    @property
    def log(self) -> Path:
        """``train.log``: every log line of the runs made in this directory (appended on resume)."""
        return self.root / "train.log"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def report_file(self, name: str) -> Path:
        """``report/<name>.png``."""
        return self.report / f"{name}.png"

    def model(self, name: str) -> Path:
        return self.root / "models" / name

    def model_weights(self, name: str) -> Path:
        return self.model(name) / MODEL_WEIGHTS_NAME

    def model_meta(self, name: str) -> Path:
        return self.model(name) / MODEL_META_NAME

    def statistics(self, name: str, key: str) -> Path:
        """Per-sample statistics of model ``name`` under the scoring config whose fingerprint is ``key``."""
        return self.model(name) / f"sample_stats-{key}.safetensors"

    def utility(self, name: str) -> Path:
        return self.model(name) / MODEL_UTILITY_NAME

    def checkpoints(self, name: str) -> Path:
        return self.root / "checkpoints" / name

    def last_checkpoint(self, name: str) -> Path:
        return self.checkpoints(name) / f"{LAST_CHECKPOINT}.ckpt"

    @property
    def evaluations(self) -> Path:
        return self.root / "evaluations"

    @property
    def evaluation_record(self) -> Path:
        """In an evaluation folder: what was re-scored and with which scoring overrides."""
        return self.root / EVALUATION_RECORD

    def new_evaluation(self) -> RunDir:
        """A fresh ``evaluations/<date>_<time>[_<n>]/`` folder for one re-score (never an existing one)."""
        stamp = dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        for n in itertools.count():
            folder = self.evaluations / (stamp if n == 0 else f"{stamp}_{n}")
            try:
                folder.mkdir(parents=True)
                return RunDir(folder)
            except FileExistsError:
                continue
        raise AssertionError("unreachable")

    def latest_evaluation(self) -> RunDir | None:
        """The newest evaluation folder, or None."""
        folders = sorted(p for p in self.evaluations.glob("*") if p.is_dir()) if self.evaluations.is_dir() else []
        return RunDir(max(folders, key=lambda p: p.stat().st_mtime_ns)) if folders else None

    def archive_attempt(self, keep_config: bool = True) -> Path:
        """Move everything but ``.hydra/`` (a sweep job's, which Hydra wrote for the attempt now starting; with
        ``keep_config=False`` it moves too) and the lock of the run now starting into ``attempts/<date>_<time>/``
        (a failed attempt, kept for reading)."""
        target = self.root / "attempts" / dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
        target.mkdir(parents=True)
        kept = (".hydra", "attempts", LOCK_NAME) if keep_config else ("attempts", LOCK_NAME)
        for path in self.root.iterdir():
            if path.name not in kept:
                shutil.move(str(path), str(target / path.name))
        return target

    def require_finished_models(self, names: tuple[str, ...] | list[str] = ("f", "g")) -> None:
        """Raise RunDirError naming what is missing before anything is recomputed: the config, the split
        manifest, and the models ``names`` (with no names: at least one model)."""
        if not self.root.is_dir():
            raise RunDirError(f"run directory {self.root} does not exist")
        for path, what in ((self.config, "its config"), (self.splits, "its split manifest")):
            if not path.is_file():
                raise RunDirError(f"{self.root} has no {path.relative_to(self.root)} ({what}); {self._why_not()}")
        if not names and not any((self.root / "models").glob(f"*/{MODEL_WEIGHTS_NAME}")):
            raise RunDirError(f"{self.root} has no trained model (models/<name>/); did training finish?")
        for name in names:
            if not self.model_weights(name).is_file():
                raise RunDirError(f"{self.root} has no trained model {name} (models/{name}/); did training finish?")

    def _why_not(self) -> str:
        """Why a run directory lacks its files: the failure its status.json records, else a question."""
        status = self.read_status()
        if status.get("state") in ("failed", "interrupted"):
            verb = "failed" if status["state"] == "failed" else "was interrupted"
            return f"the run {verb} before writing it: {status.get('error') or 'see its train.log'}"
        return "is it a clipmem run?"

    def read_status(self) -> dict[str, Any]:
        """The parsed status.json, or ``{}`` when there is none (or it cannot be read)."""
        try:
            return json.loads(self.status.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def write_status(self, state: str, **extra: Any) -> None:
        """Record ``running``, ``complete``, ``failed`` or ``interrupted``; only ``complete`` runs have metrics."""
        now = dt.datetime.now().isoformat(timespec="seconds")
        atomic_write_json(self.status, {"state": state, "time": now, **extra})


def failure_details(err: BaseException) -> dict[str, str]:
    return {"error": f"{type(err).__name__}: {err}", "traceback": "".join(traceback.format_exception(err))[-4000:]}
