"""Designs: how an experiment turns a split into model specs, and which estimator combines them.

``PairDesign`` is the paper's leave-candidates-out pair (docs/method.md, "Splits"): g trains on
S_S ∪ S_I, f on S_S ∪ S_C, both with the experiment seed; S_C is scored with ``L_f − L_g``.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from clipmem.data.splits import SplitManifest
from clipmem.plan.spec import ModelSpec, Plan
from clipmem.scoring.estimators import pair_estimate
from clipmem.scoring.statistics import SampleStatistics


class Design(Protocol):
    """A ``design`` config (``conf/design/*.yaml``): the plan of models and the estimator."""

    name: str

    def plan(self, manifest: SplitManifest, seed: int) -> Plan: ...

    def estimate(self, plan: Plan, stats: dict[str, SampleStatistics], normalisation: str
                 ) -> dict[str, torch.Tensor]: ...


class PairDesign:
    """``design=pair``: two models, f (S_S ∪ S_C) and g (S_S ∪ S_I); g trains first so that f's
    in-training CLIPMem curve can compare against it."""

    name = "pair"

    def plan(self, manifest: SplitManifest, seed: int) -> Plan:
        g = ModelSpec("g", manifest.train_ids("g"), int(seed))
        f = ModelSpec("f", manifest.train_ids("f"), int(seed), reference="g")
        return Plan(specs=(g, f), scored_ids=manifest.kept("candidate"))

    def estimate(self, plan: Plan, stats: dict[str, SampleStatistics], normalisation: str
                 ) -> dict[str, torch.Tensor]:
        """``clipmem = normalise(L_f − L_g)`` on S_C, with each model's parts (``pair_estimate``)."""
        return pair_estimate(stats["f"], stats["g"], normalisation)

    def describe(self) -> dict[str, Any]:
        return {"design": self.name}
