"""The run directory: its layout, its status file, and checks before reading it."""

from __future__ import annotations

import datetime as dt
import json
import traceback
from pathlib import Path
from typing import Any

from clipmem.errors import RunDirError
from clipmem.io import atomic_write_json

STATUS_NAME = "status.json"


class RunDir:
    """Paths of one experiment's outputs (see README, "Run directory")."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def splits(self) -> Path:
        return self.root / "splits.json"

    def model(self, role: str) -> Path:
        return self.root / "models" / role

    def checkpoints(self, role: str) -> Path:
        return self.root / "checkpoints" / role

    @property
    def scores(self) -> Path:
        return self.root / "scores.csv"

    @property
    def removed(self) -> Path:
        """Ids left out of training by ``remove_topk`` (absent otherwise)."""
        return self.root / "removed.csv"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def config(self) -> Path:
        return self.root / ".hydra" / "config.yaml"

    @property
    def status(self) -> Path:
        return self.root / STATUS_NAME

    def require_finished_models(self) -> None:
        """Raise RunDirError naming what is missing before anything is recomputed."""
        if not self.root.is_dir():
            raise RunDirError(f"run directory {self.root} does not exist")
        for path, what in ((self.config, "its config"), (self.splits, "its split manifest")):
            if not path.is_file():
                raise RunDirError(f"{self.root} has no {path.relative_to(self.root)} ({what}); is it a clipmem run?")
        for role in ("f", "g"):
            if not (self.model(role) / "open_clip_model.safetensors").is_file():
                raise RunDirError(f"{self.root} has no trained model {role} (models/{role}/); did training finish?")

    def read_status(self) -> dict[str, Any]:
        """The parsed status.json, or ``{}`` when there is none (or it cannot be read)."""
        try:
            return json.loads(self.status.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def write_status(self, state: str, **extra: Any) -> None:
        """Record ``running``, ``complete`` or ``failed``; only ``complete`` runs have metrics.json."""
        now = dt.datetime.now().isoformat(timespec="seconds")
        atomic_write_json(self.status, {"state": state, "time": now, **extra})


def failure_details(err: BaseException) -> dict[str, str]:
    return {"error": f"{type(err).__name__}: {err}", "traceback": "".join(traceback.format_exception(err))[-4000:]}
