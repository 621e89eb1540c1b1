"""A design outside the package: two models on complementary random halves of the pool (S_C ∪ S_I), every pool
sample scored by the in/out estimator of clipmem's own library of estimators."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from clipmem.plan.spec import ModelSpec, Plan
from clipmem.scoring.clipmem import normalise
from clipmem.scoring.uncertainty import estimate_in_out


class TwoHalves:
    """``design._target_=tests.plugins.design.TwoHalves``."""

    name = "two_halves"
    needs_held_out = True
    supports_audit = False

    def __init__(self, draw: int = 7) -> None:
        self.draw = int(draw)

    def plan(self, manifest: Any, seed: int) -> Plan:
        ids = manifest.kept("candidate") + manifest.kept("independent")
        first = set(np.random.default_rng([manifest.seed, self.draw]).permutation(ids)[: len(ids) // 2].tolist())
        halves = (tuple(i for i in ids if i in first), tuple(i for i in ids if i not in first))
        specs = (ModelSpec("a", manifest.shared + halves[0], int(seed)),
                 ModelSpec("b", manifest.shared + halves[1], int(seed), reference="a"))
        return Plan(specs=specs, scored_ids=ids, sets=("pool",) * len(ids), groups=(0, 0), seed=int(seed))

    def estimate(self, plan: Plan, stats: dict, normalisation: str) -> dict[str, torch.Tensor]:
        values = torch.stack([stats[s.name].value.double() for s in plan.specs])
        found = estimate_in_out(values, plan.membership(), torch.tensor(plan.groups))
        raw = found.memorization.float()
        return {"sample_id": torch.tensor(plan.scored_ids), "clipmem": normalise(raw, normalisation),
                "clipmem_raw": raw, "consistency": found.consistency.float()}

    def summary(self, plan: Plan, stats: dict) -> dict[str, float]:
        return {"two_halves_draw": float(self.draw)}

    def describe(self) -> dict[str, Any]:
        return {"design": self.name, "draw": self.draw}
