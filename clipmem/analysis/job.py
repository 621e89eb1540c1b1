"""What an analysis of a run's trained models works from: one typed object instead of a long argument list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from clipmem.analysis.config import AnalysisConfig
from clipmem.data.experiment_data import ExperimentData
from clipmem.evaluation.encode import Batching
from clipmem.plan.designs import Design
from clipmem.plan.spec import Plan
from clipmem.rundir import RunDir


@dataclass(frozen=True)
class AnalysisJob:
    """The run's ``plan`` and its ``design`` (which turns per-model statistics into in-minus-out scores), its
    ``data``, its ``families`` (name -> family object), the run folder its models load from (``models_from``),
    the ``analysis`` settings, the run ``seed`` (the views' draws) and the ``device`` the models encode on."""

    plan: Plan
    design: Design
    data: ExperimentData
    families: dict[str, Any]
    models_from: RunDir
    config: AnalysisConfig
    seed: int
    device: torch.device

    @property
    def batching(self) -> Batching:
        """``analysis.batch_size`` rows per forward pass on ``device``."""
        return Batching(int(self.config.batch_size), self.device)

    @property
    def colours(self) -> dict[str, str]:
        """Family name -> its plot colour."""
        return {name: family.colour for name, family in self.families.items()}
