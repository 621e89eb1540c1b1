"""What the steps after training share, in one object instead of a dozen arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clipmem.data.experiment_data import ExperimentData
from clipmem.plan.spec import Plan
from clipmem.rundir import RunDir

if TYPE_CHECKING:
    from clipmem.config.settings import ExperimentSettings


@dataclass(frozen=True)
class RunContext:
    """A run's validated ``settings``, its ``data`` and ``plan``, the directory results go to (``out``: the run, or a
    new evaluation folder), the directory whose ``models/`` were measured (``models_from``) and the ``loggers``."""

    settings: ExperimentSettings
    data: ExperimentData
    plan: Plan
    out: RunDir
    models_from: RunDir
    loggers: list

    @property
    def design(self) -> Any:
        return self.settings.design

    @property
    def families(self) -> dict[str, Any]:
        """Family name -> family object (the CLIP family alone unless the config names others)."""
        return self.settings.families

    @property
    def normalisation(self) -> str:
        return self.settings.scoring.normalisation

    @property
    def report(self) -> Any:
        return self.settings.report
