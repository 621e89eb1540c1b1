"""``design=crossfit``: K folds × R repeats of the audited pairs, every pair scored out of fold
(docs/audit.md, "The design").

The pool is every pair outside S_S (S_C ∪ S_I ∪ S_E: nothing is held out from the audit). One random
partition of the pool into K folds; model (r, k) trains on S_S plus every fold but k, with repeat r's seed.
Each pair is therefore unseen by R models (those of its own fold, one per repeat, which share its fold's
unseen pairs: the audit's ranks compare a pair with exactly those) and seen by R(K − 1). Each model's
contrast term takes its own unseen pairs as the reference (``Plan.contrast_reference = "out_of_fold"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clipmem.data.splits import SplitManifest
from clipmem.errors import ConfigError
from clipmem.plan.designs import _Uncertain, reliability
from clipmem.plan.seeds import model_seed
from clipmem.plan.spec import ModelSpec, Plan
from clipmem.scoring.statistics import SampleStatistics

FOLD_SALT = 0xC0F0  # the folds are drawn from (split seed, salt): data, not training randomness


def audited_pool(manifest: SplitManifest) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Every kept id outside S_S (S_C, then S_I, then S_E) and the split each comes from."""
    ids: tuple[int, ...] = ()
    sets: tuple[str, ...] = ()
    for split in ("candidate", "independent", "extra"):
        kept = manifest.kept(split) if split != "extra" else manifest.extra
        ids, sets = ids + kept, sets + (split,) * len(kept)
    return ids, sets


def fold_of(n: int, folds: int, seed: int, blocks: list[list[int]] | None = None) -> np.ndarray:
    """(n,) int: each pool position's fold, a random balanced partition. Blocks (positions that must stay together:
    near-duplicate images; singletons otherwise) are dealt in random order, each to the fold holding the fewest so
    far: fold sizes then differ by at most the largest block."""
    order = np.random.default_rng([int(seed), FOLD_SALT]).permutation(n if blocks is None else len(blocks))
    blocks = blocks if blocks is not None else [[i] for i in range(n)]
    fold, sizes = np.empty(n, dtype=np.int64), np.zeros(folds, dtype=np.int64)
    for b in order:
        target = int(np.argmin(sizes))
        fold[blocks[b]] = target
        sizes[target] += len(blocks[b])
    return fold


class CrossFitDesign(_Uncertain):
    """``design=crossfit``: ``folds`` × ``repeats`` models; each pair is out of fold in ``repeats`` models.

    folds: K ≥ 2; each model trains on (K − 1)/K of the pool.
    repeats: R ≥ 1 training seeds per fold (same partition: a pair's unseen companions are the same in every
        repeat, so the audit ranks a pair within its fold under an ensemble of R models). R ≥ 2 also gives the
        audit's ranking a split-half reliability and the memorization an interval.
    """

    name = "crossfit"
    needs_held_out = False

    def __init__(self, folds: int = 5, repeats: int = 2, ci: str = "t", level: float = 0.95,
                 bootstrap_draws: int = 2000) -> None:
        super().__init__(ci, level, bootstrap_draws)
        if int(folds) < 2:
            raise ConfigError(f"design.folds must be ≥ 2, got {folds}")
        if int(repeats) < 1:
            raise ConfigError(f"design.repeats must be ≥ 1, got {repeats}")
        self.folds, self.repeats = int(folds), int(repeats)
        self.check_units(self.repeats, "design.repeats to 10")

    def plan(self, manifest: SplitManifest, seed: int) -> Plan:
        ids, sets = audited_pool(manifest)
        if len(ids) < 2 * self.folds:
            raise ConfigError(f"design=crossfit with {self.folds} folds needs at least {2 * self.folds} pairs outside "
                              f"S_S; the split leaves {len(ids)}")
        fold = fold_of(len(ids), self.folds, manifest.seed, manifest.blocks(ids))
        specs, groups = [], []
        for r in range(self.repeats):
            repeat_seed = model_seed(seed, self.name, r)
            for k in range(self.folds):
                pool = tuple(i for i, f in zip(ids, fold.tolist(), strict=True) if f != k)
                specs.append(ModelSpec(f"r{r}f{k}", manifest.shared + pool, repeat_seed))
                groups.append(r)
        return Plan(specs=tuple(specs), scored_ids=ids, sets=sets, groups=tuple(groups), seed=int(seed),
                    contrast_reference="out_of_fold")

    def summary(self, plan: Plan, stats: dict[str, SampleStatistics]) -> dict[str, float]:
        return reliability(plan, stats) if self.repeats >= 2 else {}

    def describe(self) -> dict[str, Any]:
        return {"design": self.name, "folds": self.folds, "repeats": self.repeats}

