"""``design=crossfit``: K folds × R repeats of the audited pairs, every pair scored out of fold
(docs/audit.md, "The design").

The pool is every pair outside S_S (S_C ∪ S_I ∪ S_E: nothing is held out from the audit), cut once into blocks.
Each repeat r deals the blocks into K folds; model (r, k) trains on S_S plus every fold but k, with repeat r's
seed. Each pair is therefore unseen by R models (one per repeat) and seen by R(K − 1); the pairs of its block are
unseen by exactly the same R models (the audit ranks a pair among them). Each model's contrast term takes its own
unseen pairs as the reference (``Plan.contrast_reference = "out_of_fold"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clipmem.data.splits.manifest import SplitManifest
from clipmem.errors import ConfigError
from clipmem.plan.designs import _Uncertain, reliability
from clipmem.plan.seeds import model_seed
from clipmem.plan.spec import ModelSpec, Plan
from clipmem.scoring.statistics import SampleStatistics

FOLD_SALT = 0xC0F0  # the folds are drawn from (split seed, repeat, salt): data, not training randomness
BLOCK_SALT = 0xB10C


def audited_pool(manifest: SplitManifest) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Every kept id outside S_S (S_C, then S_I, then S_E) and the split each comes from."""
    ids: tuple[int, ...] = ()
    sets: tuple[str, ...] = ()
    for split in ("candidate", "independent", "extra"):
        kept = manifest.kept(split) if split != "extra" else manifest.extra
        ids, sets = ids + kept, sets + (split,) * len(kept)
    return ids, sets


def fold_of(n: int, folds: int, seed: int | list[int], blocks: list[list[int]] | None = None) -> np.ndarray:
    """(n,) int: each pool position's fold, a random balanced partition. Blocks (positions that must stay together;
    singletons otherwise) are dealt in random order, each to the fold holding the fewest so far: fold sizes then
    differ by at most the largest block."""
    key = [*seed, FOLD_SALT] if isinstance(seed, list) else [int(seed), FOLD_SALT]
    order = np.random.default_rng(key).permutation(n if blocks is None else len(blocks))
    blocks = blocks if blocks is not None else [[i] for i in range(n)]
    fold, sizes = np.empty(n, dtype=np.int64), np.zeros(folds, dtype=np.int64)
    for b in order:
        target = int(np.argmin(sizes))
        fold[blocks[b]] = target
        sizes[target] += len(blocks[b])
    return fold


def rank_blocks(units: list[list[int]], count: int, seed: int) -> list[list[int]]:
    """``count`` blocks of about equal size from ``units`` (positions that must stay together: near-duplicate
    groups, singletons otherwise), dealt in random order to the smallest block so far."""
    order = np.random.default_rng([int(seed), BLOCK_SALT]).permutation(len(units))
    blocks: list[list[int]] = [[] for _ in range(count)]
    for u in order:
        min(blocks, key=len).extend(units[u])
    return [sorted(b) for b in blocks if b]


class CrossFitDesign(_Uncertain):
    """``design=crossfit``: ``folds`` × ``repeats`` models; each pair is out of fold in ``repeats`` models.

    The pool is cut once into blocks of about ``block_size`` pairs (near-duplicates in one block); each repeat deals
    the blocks into ``folds`` folds afresh, so repeats train on different data while the pairs of a block always
    share their unseen models: the audit ranks a pair among its block under the ensemble of those R models, where a
    wrong caption's rank is exactly uniform.

    folds: K ≥ 2; each model trains on about (K − 1)/K of the pool.
    repeats: R ≥ 1 partitions (each with its own training seed). R ≥ 2 also gives the audit's ranking a split-half
        reliability and the memorization an interval.
    block_size: pairs a pair is ranked among (at least 2·K blocks are made however small the pool).
    """

    name = "crossfit"
    needs_held_out = False
    supports_audit = True  # keeps every model's embeddings: the audit's rank statistics

    def __init__(self, folds: int = 5, repeats: int = 2, block_size: int = 50, ci: str = "t", level: float = 0.95,
                 bootstrap_draws: int = 2000) -> None:
        super().__init__(ci, level, bootstrap_draws)
        if int(folds) < 2:
            raise ConfigError(f"design.folds must be ≥ 2, got {folds}")
        if int(repeats) < 1:
            raise ConfigError(f"design.repeats must be ≥ 1, got {repeats}")
        if int(block_size) < 2:
            raise ConfigError(f"design.block_size must be ≥ 2 (a pair is ranked among its block), got {block_size}")
        self.folds, self.repeats, self.block_size = int(folds), int(repeats), int(block_size)
        self.check_units(self.repeats, "design.repeats to 10")

    def blocks(self, manifest: SplitManifest, ids: tuple[int, ...]) -> list[list[int]]:
        """The pool positions of each block (about ``block_size`` pairs; at least 2·K blocks)."""
        count = max(2 * self.folds, round(len(ids) / self.block_size))
        return rank_blocks(manifest.blocks(ids), count, manifest.seed)

    def plan(self, manifest: SplitManifest, seed: int) -> Plan:
        ids, sets = audited_pool(manifest)
        if len(ids) < 4 * self.folds:
            raise ConfigError(f"design=crossfit with {self.folds} folds needs at least {4 * self.folds} pairs outside "
                              f"S_S; the split leaves {len(ids)}")
        blocks = self.blocks(manifest, ids)
        specs, groups = [], []
        for r in range(self.repeats):
            fold = fold_of(len(ids), self.folds, [manifest.seed, r], blocks)
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
        return {"design": self.name, "folds": self.folds, "repeats": self.repeats, "block_size": self.block_size}
