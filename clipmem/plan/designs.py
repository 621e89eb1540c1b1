"""Designs: how an experiment turns a split into model specs, and which estimator combines them
(docs/method.md, "Designs").

* ``PairDesign`` (``design=pair``): the paper's leave-candidates-out pair. g trains on S_S ∪ S_I, f on
  S_S ∪ S_C, with the experiment seed; S_C is scored with ``L_f − L_g`` and, symmetrically, S_I with
  ``L_g − L_f``: one pair scores both sets.
* ``ReplicatesDesign`` (``design=replicates``): R such pairs on the same split with different training
  seeds; per sample the mean, standard error and a t-interval over the pairs.
* ``InOutDesign`` (``design=inout``): M models, each on S_S plus a random half of the pool S_C ∪ S_I, built
  from complementary pairs so that every pool sample is in exactly M/2 models; in/out memorization,
  consistency and an interval for every pool sample.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from clipmem.data.splits.manifest import SplitManifest
from clipmem.errors import ConfigError
from clipmem.plan.seeds import model_seed
from clipmem.plan.spec import ModelSpec, Plan
from clipmem.scoring.clipmem import clipmem_raw, normalise
from clipmem.scoring.reliability import split_half
from clipmem.scoring.statistics import SampleStatistics
from clipmem.scoring.uncertainty import (
    CI_METHODS,
    IntervalSpec,
    estimate_in_out,
    icc_oneway,
    in_out_means,
    mean_pairwise_spearman,
    unit_differences,
)

POOL_SALT = 0x1A0  # the pool's random halves are drawn from (split seed, salt): data, not training randomness


class Design(Protocol):
    """A ``design`` config (``conf/design/*.yaml``, or a class outside the package: docs/extending.md): the plan of
    models and the estimator over them. ``needs_held_out``: its contrast term compares with S_E (so
    ``data.splits.extra`` must be ≥ 1); ``supports_audit``: it scores every pair out of fold with embeddings kept
    (``audit.enabled``). Both default to (True, False) for a class that does not say."""

    name: str

    def plan(self, manifest: SplitManifest, seed: int) -> Plan: ...

    def estimate(self, plan: Plan, stats: dict[str, SampleStatistics], normalisation: str
                 ) -> dict[str, torch.Tensor]: ...

    def summary(self, plan: Plan, stats: dict[str, SampleStatistics]) -> dict[str, float]: ...


def balanced_halves(n: int, models: int, seed: int, blocks: list[list[int]] | None = None) -> torch.Tensor:
    """(models, n) bool membership from ``models / 2`` complementary pairs: pair k splits the n samples into
    two random halves (its own permutation), one per model. Every sample is in exactly models/2 models and
    every model trains on ⌊n/2⌋ or ⌈n/2⌉ of them. With ``blocks`` (positions that must stay together: near-duplicate
    images) whole blocks are drawn until the first half holds at least ⌊n/2⌋ samples."""
    rng = np.random.default_rng([int(seed), POOL_SALT])
    blocks = blocks if blocks is not None else [[i] for i in range(n)]
    rows = []
    for _ in range(models // 2):
        first = np.zeros(n, dtype=bool)
        taken = 0
        for b in rng.permutation(len(blocks)):
            if taken >= n // 2:
                break
            first[blocks[b]] = True
            taken += len(blocks[b])
        rows += [first, ~first]
    return torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, n, dtype=torch.bool)


def scored_pool(manifest: SplitManifest) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """S_C then S_I (minus removed ids) and the set each comes from."""
    candidate, independent = manifest.kept("candidate"), manifest.kept("independent")
    return candidate + independent, ("candidate",) * len(candidate) + ("independent",) * len(independent)


def value_matrix(plan: Plan, stats: dict[str, SampleStatistics]) -> torch.Tensor:
    """(M, N) float64: L_m(x) of every model of the plan (in plan order) on the scored samples."""
    return torch.stack([stats[spec.name].value.double() for spec in plan.specs])


def in_out_columns(plan: Plan, stats: dict[str, SampleStatistics], normalisation: str, interval: IntervalSpec
                   ) -> dict[str, torch.Tensor]:
    """scores.csv columns of an estimate over several units: clipmem (normalised), clipmem_raw, its standard
    error and interval (raw units), consistency, and how many models did and did not train on each sample."""
    estimate = estimate_in_out(value_matrix(plan, stats), plan.membership(), torch.tensor(plan.groups), interval,
                               plan.seed)
    raw = estimate.memorization.float()
    return {
        "sample_id": torch.tensor(plan.scored_ids, dtype=torch.int64),
        "clipmem": normalise(raw, normalisation),
        "clipmem_raw": raw,
        "clipmem_se": estimate.stderr.float(),
        "clipmem_low": estimate.low.float(),
        "clipmem_high": estimate.high.float(),
        "consistency": estimate.consistency.float(),
        "n_in": estimate.n_in.float(),
        "n_out": estimate.n_out.float(),
    }


def reliability(plan: Plan, stats: dict[str, SampleStatistics]) -> dict[str, float]:
    """How reproducible the memorization ranking is: split-half Spearman over up to 10 random partitions of the units
    (each unit scored on its own views), Spearman–Brown corrected, with a bootstrap interval over the samples (designs
    with ≥ 2 units; NaN otherwise)."""
    values, membership, groups = value_matrix(plan, stats), plan.membership(), torch.tensor(plan.groups)

    def memorization(units: list[int]) -> torch.Tensor:
        chosen = torch.isin(groups, torch.tensor(units))
        return torch.sub(*in_out_means(values[chosen], membership[chosen]))

    found = split_half(memorization, torch.unique(groups).tolist(), seed=plan.seed)
    return {"reliability_spearman": found["rho"], "reliability_spearman_brown": found["reliability"],
            "reliability_low": found["low"], "reliability_high": found["high"]}


class PairDesign:
    """``design=pair``: f (S_S ∪ S_C) and g (S_S ∪ S_I); g trains first so that f's in-training CLIPMem curve
    can compare against it. ``symmetric``: score S_I too, with the roles swapped."""

    name = "pair"

    def __init__(self, symmetric: bool = True) -> None:
        self.symmetric = bool(symmetric)

    def plan(self, manifest: SplitManifest, seed: int) -> Plan:
        g = ModelSpec("g", manifest.train_ids("g"), int(seed))
        f = ModelSpec("f", manifest.train_ids("f"), int(seed), reference="g")
        ids, sets = scored_pool(manifest)
        if not self.symmetric:
            count = len(manifest.kept("candidate"))
            ids, sets = ids[:count], sets[:count]
        return Plan(specs=(g, f), scored_ids=ids, sets=sets, groups=(0, 0), seed=int(seed))

    def estimate(self, plan: Plan, stats: dict[str, SampleStatistics], normalisation: str
                 ) -> dict[str, torch.Tensor]:
        """``L_f − L_g`` on S_C and ``L_g − L_f`` on S_I, with each model's parts; normalised over both."""
        f, g = stats["f"], stats["g"]
        if not torch.equal(f.sample_ids, g.sample_ids):
            raise ConfigError("the statistics of f and g cover different samples; re-score both")
        on_f = torch.tensor([s == "candidate" for s in plan.sets])
        raw = torch.where(on_f, clipmem_raw(f.value, g.value), clipmem_raw(g.value, f.value))
        return {"sample_id": f.sample_ids, "clipmem": normalise(raw, normalisation), "clipmem_raw": raw,
                "align_f": f.align, "align_g": g.align, "contrast_f": f.contrast, "contrast_g": g.contrast}

    def summary(self, plan: Plan, stats: dict[str, SampleStatistics]) -> dict[str, float]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {"design": self.name, "symmetric": self.symmetric}


BOOTSTRAP_MIN_UNITS = 10  # percentile bootstrap over fewer units covers 0.80 (4 units) to 0.89 (8): docs/method.md


class _Uncertain:
    """Shared by designs that estimate over several units: the interval's method and level."""

    def __init__(self, ci: str = "t", level: float = 0.95, bootstrap_draws: int = 2000) -> None:
        if ci not in CI_METHODS:
            raise ConfigError(f"design.ci must be one of {list(CI_METHODS)}, got {ci!r}")
        if not 0.5 <= float(level) < 1.0:
            raise ConfigError(f"design.level must be in [0.5, 1), got {level}")
        self.ci, self.level, self.draws = ci, float(level), int(bootstrap_draws)

    def check_units(self, units: int, what: str) -> None:
        """``design.ci=bootstrap`` needs ``BOOTSTRAP_MIN_UNITS`` resampling units; ``what`` names the key to raise."""
        if self.ci == "bootstrap" and units < BOOTSTRAP_MIN_UNITS:
            raise ConfigError(f"design.ci=bootstrap with {units} resampling units: percentile intervals over fewer "
                              f"than {BOOTSTRAP_MIN_UNITS} undercover (0.80 at 4 units, docs/method.md); use "
                              f"design.ci=t or raise {what}")

    def estimate(self, plan: Plan, stats: dict[str, SampleStatistics], normalisation: str
                 ) -> dict[str, torch.Tensor]:
        return in_out_columns(plan, stats, normalisation, IntervalSpec(self.ci, self.level, self.draws))


class ReplicatesDesign(_Uncertain):
    """``design=replicates``: ``replicates`` f/g pairs on one split, pair r trained with its own seed derived from
    (``seed``, design, r) (``clipmem.plan.seeds``: no two runs share a model)."""

    name = "replicates"

    def __init__(self, replicates: int = 3, ci: str = "t", level: float = 0.95, bootstrap_draws: int = 2000) -> None:
        super().__init__(ci, level, bootstrap_draws)
        if int(replicates) < 2:
            raise ConfigError(f"design.replicates must be ≥ 2 (one pair is design=pair), got {replicates}")
        self.replicates = int(replicates)
        self.check_units(self.replicates, f"design.replicates to {BOOTSTRAP_MIN_UNITS}")

    def plan(self, manifest: SplitManifest, seed: int) -> Plan:
        specs = []
        for r in range(self.replicates):
            pair_seed = model_seed(seed, self.name, r)
            specs += [ModelSpec(f"g{r}", manifest.train_ids("g"), pair_seed),
                      ModelSpec(f"f{r}", manifest.train_ids("f"), pair_seed, reference=f"g{r}")]
        ids, sets = scored_pool(manifest)
        return Plan(specs=tuple(specs), scored_ids=ids, sets=sets,
                    groups=tuple(r for r in range(self.replicates) for _ in range(2)), seed=int(seed))

    def summary(self, plan: Plan, stats: dict[str, SampleStatistics]) -> dict[str, float]:
        diffs = unit_differences(value_matrix(plan, stats), plan.membership(), torch.tensor(plan.groups))
        return {"replicate_spearman": mean_pairwise_spearman(diffs), "replicate_icc": icc_oneway(diffs),
                **reliability(plan, stats)}


class InOutDesign(_Uncertain):
    """``design=inout``: ``models`` models on S_S plus random halves of the pool S_C ∪ S_I (complementary
    pairs, pair k with a seed derived from (``seed``, design, k)); every pool sample is scored by the in/out
    estimator."""

    name = "inout"

    def __init__(self, models: int = 8, ci: str = "t", level: float = 0.95, bootstrap_draws: int = 2000) -> None:
        super().__init__(ci, level, bootstrap_draws)
        if int(models) < 2 or int(models) % 2:
            raise ConfigError(f"design.models must be an even number ≥ 2, got {models}")
        self.models = int(models)
        self.check_units(self.models // 2, f"design.models to {2 * BOOTSTRAP_MIN_UNITS}")

    def plan(self, manifest: SplitManifest, seed: int) -> Plan:
        ids, sets = scored_pool(manifest)
        membership = balanced_halves(len(ids), self.models, manifest.seed, manifest.blocks(ids))
        shared = manifest.shared
        specs = []
        for m in range(self.models):
            pool = tuple(i for i, inside in zip(ids, membership[m].tolist(), strict=True) if inside)
            reference = f"m{m - 1:02d}" if m % 2 else None
            pair_seed = model_seed(seed, self.name, m // 2)
            specs.append(ModelSpec(f"m{m:02d}", shared + pool, pair_seed, reference=reference))
        return Plan(specs=tuple(specs), scored_ids=ids, sets=sets, groups=tuple(m // 2 for m in range(self.models)),
                    seed=int(seed))

    def summary(self, plan: Plan, stats: dict[str, SampleStatistics]) -> dict[str, float]:
        return reliability(plan, stats)
