"""The estimators as pure functions on simulated membership matrices with known truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from clipmem.plan import CrossFitDesign, InOutDesign, PairDesign, ReplicatesDesign
from clipmem.plan.designs import balanced_halves
from clipmem.scoring.clipmem import pair_scores
from clipmem.scoring.reliability import split_half
from clipmem.scoring.uncertainty import (
    IntervalSpec,
    estimate_in_out,
    icc_oneway,
    in_out_means,
    mean_pairwise_spearman,
    spearman_brown,
    unit_differences,
)


def _simulate(k_pairs: int, n: int, noise: float, seed: int = 0):
    """K complementary pairs on N pool samples: L = base(x) + mem(x)·[trained on x] + noise."""
    g = torch.Generator().manual_seed(seed)
    membership = balanced_halves(n, 2 * k_pairs, seed)  # (M, N), each sample in exactly K models
    base = torch.randn(n, generator=g)
    truth = torch.rand(n, generator=g)  # the true memorization of each sample
    values = base + truth * membership + noise * torch.randn(2 * k_pairs, n, generator=g, dtype=torch.float64)
    groups = torch.arange(2 * k_pairs) // 2
    return values, membership, groups, truth


def test_balanced_halves_put_every_sample_in_half_the_models_and_half_the_samples_in_every_model():
    membership = balanced_halves(101, 8, seed=3)
    assert membership.shape == (8, 101)
    assert set(membership.sum(0).tolist()) == {4}  # each sample in exactly M/2 models
    assert set(membership.sum(1).tolist()) <= {50, 51}  # and every model trains on (about) half the pool
    assert torch.equal(membership[0], ~membership[1]) and torch.equal(membership[6], ~membership[7])  # pairs
    assert not torch.equal(membership[0], membership[2])  # different pairs split the pool differently


def test_in_out_with_two_complementary_models_is_the_pair_estimate():
    g = torch.Generator().manual_seed(0)
    candidate = torch.zeros(40, dtype=torch.bool)
    candidate[:20] = True  # S_C: model 0 (f) trained on them; S_I: model 1 (g)
    align, contrast = torch.rand(2, 40, generator=g), torch.rand(2, 40, generator=g)
    values = (align - contrast).double()
    estimate = estimate_in_out(values, torch.stack([candidate, ~candidate]), torch.tensor([0, 0]))
    pair = pair_scores(align[0], contrast[0], align[1], contrast[1], "none")["clipmem_raw"].double()
    assert torch.allclose(estimate.memorization[candidate], pair[candidate], atol=1e-12)
    assert torch.allclose(estimate.memorization[~candidate], -pair[~candidate], atol=1e-12)  # roles swapped
    assert torch.isnan(estimate.low).all()  # one pair: no interval


def test_consistency_and_memorization_use_the_right_models():
    membership = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    values = torch.tensor([[10.0, 1, 20], [2, 30, 3], [40, 50, 4], [6, 7, 60]], dtype=torch.float64)
    in_mean, out_mean = in_out_means(values, membership)
    assert in_mean.tolist() == [25.0, 40.0, 40.0]  # models 0,2 | 1,2 | 0,3
    assert out_mean.tolist() == [4.0, 4.0, 3.5]  # models 1,3 | 0,3 | 1,2
    estimate = estimate_in_out(values, membership, torch.tensor([0, 0, 1, 1]))
    assert estimate.consistency.tolist() == out_mean.tolist()
    assert (estimate.memorization == in_mean - out_mean).all()
    assert estimate.n_in.tolist() == [2, 2, 2] and estimate.n_out.tolist() == [2, 2, 2]


def test_t_intervals_cover_the_truth_at_the_nominal_rate():
    values, membership, groups, truth = _simulate(k_pairs=4, n=6000, noise=0.5)
    estimate = estimate_in_out(values, membership, groups, IntervalSpec("t", 0.95))
    covered = ((estimate.low <= truth) & (truth <= estimate.high)).double().mean()
    assert 0.93 <= float(covered) <= 0.97, float(covered)  # Gaussian noise: t-intervals are exact


def test_bootstrap_intervals_cover_the_truth_at_about_the_nominal_rate_with_enough_units():
    values, membership, groups, truth = _simulate(k_pairs=20, n=3000, noise=0.5, seed=1)
    estimate = estimate_in_out(values, membership, groups, IntervalSpec("bootstrap", 0.95, 1000))
    covered = float(((estimate.low <= truth) & (truth <= estimate.high)).double().mean())
    assert 0.90 <= covered <= 0.97, covered  # percentile bootstrap: slightly short with 20 units


def _in_out_halves(values, membership, groups):
    def memorization(units):
        chosen = torch.isin(groups, torch.tensor(units))
        return torch.sub(*in_out_means(values[chosen], membership[chosen]))
    return memorization


def test_split_half_reliability_tracks_signal_and_noise():
    values, membership, groups, _ = _simulate(k_pairs=8, n=2000, noise=0.2)
    found = split_half(_in_out_halves(values, membership, groups), list(range(8)), partitions=5, draws=200)
    # the halves' agreement: truth ~ U(0, 1) (variance 1/12) against noise of each half's in-out mean over 4 pairs
    # (variance 2·0.2²/4): expected Pearson 0.0833 / (0.0833 + 0.02) = 0.81 (Spearman of near-normal scores a bit less)
    assert 0.72 < found["rho"] < 0.85
    assert found["reliability"] == pytest.approx(spearman_brown(found["rho"]))
    assert found["low"] < found["reliability"] < found["high"] and found["partitions"] == 5
    noise_only = torch.randn(values.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    null = split_half(_in_out_halves(noise_only, membership, groups), list(range(8)), partitions=5, draws=200)
    assert abs(null["rho"]) < 0.06 and null["low"] < 0 < null["high"]  # no signal: no agreement


def test_spearman_brown_and_icc_against_textbook_values():
    assert spearman_brown(0.5) == pytest.approx(2 / 3) and spearman_brown(0.8) == pytest.approx(1.6 / 1.8)
    # halves that disagree are not stepped up past −1: a reliability stays on its scale
    steps = [spearman_brown(r) for r in np.linspace(-1, 1, 41)]
    assert all(-1 <= v <= 1 for v in steps) and steps == sorted(steps) and spearman_brown(-0.6) == -0.6
    # Shrout and Fleiss (1979), Table 2: 6 targets rated by 4 judges; ICC(1, 1) = 0.17
    ratings = torch.tensor([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
                           dtype=torch.float64)
    assert icc_oneway(ratings.T) == pytest.approx(0.166, abs=0.001)


def test_icc_and_pairwise_spearman_of_replicates():
    g = torch.Generator().manual_seed(2)
    signal = torch.randn(5000, generator=g, dtype=torch.float64)
    replicates = signal + torch.randn(4, 5000, generator=g, dtype=torch.float64)  # equal signal and noise
    assert abs(icc_oneway(replicates) - 0.5) < 0.03  # between-sample variance share: 1 / (1 + 1)
    assert 0.4 < mean_pairwise_spearman(replicates) < 0.6
    values, membership, groups, truth = _simulate(k_pairs=3, n=500, noise=0.0)
    assert torch.allclose(unit_differences(values, membership, groups), truth.expand(3, -1).double())


def _skewed(k_pairs: int, n: int, seed: int):
    """Per-unit differences with skewed (centred exponential) noise whose scale differs between samples (0.1-1.0)."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.rand(n, generator=g, dtype=torch.float64)
    scale = 0.1 + 0.9 * torch.rand(n, generator=g, dtype=torch.float64)
    noise = torch.empty(k_pairs, n, dtype=torch.float64).exponential_(1.0, generator=g) - 1.0
    return truth + scale * noise, truth


@pytest.mark.parametrize(("k_pairs", "lowest"), [(2, 0.89), (4, 0.85), (8, 0.87), (16, 0.90)])
def test_t_interval_coverage_under_skewed_unequal_noise(k_pairs, lowest):
    """docs/method.md, "How well the intervals cover": the t-interval with 2, 4, 8, 16 units (design=inout with 4,
    8, 16, 32 models) under skewed noise of unequal scale: measured 0.912, 0.872, 0.894, 0.917 (nominal 0.95; a
    normal interval would cover far less with 2 units)."""
    from clipmem.scoring.uncertainty import t_interval

    diffs, truth = _skewed(k_pairs, 20000, seed=k_pairs)
    _, _, low, high = t_interval(diffs, 0.95)
    covered = float(((low <= truth) & (truth <= high)).double().mean())
    assert lowest <= covered <= 0.97, covered


def test_percentile_bootstrap_falls_short_with_few_units():
    """Why ``t`` is the default interval at the default M = 8 (4 units): docs/method.md."""
    values, membership, groups, truth = _simulate(k_pairs=4, n=3000, noise=0.5, seed=2)
    boot = estimate_in_out(values, membership, groups, IntervalSpec("bootstrap", draws=1000))
    covered = float(((boot.low <= truth) & (truth <= boot.high)).double().mean())
    assert covered < 0.85, covered


def test_the_gap_between_saved_and_recomputed_statistics_is_their_largest_difference():
    from clipmem.plan.fit import statistics_gap
    from clipmem.scoring.statistics import SampleStatistics

    ids = torch.tensor([3, 5, 7])
    saved = SampleStatistics(ids, torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.0, 0.0, 0.0]))
    assert statistics_gap(saved, saved) == 0.0
    rounded = SampleStatistics(ids, torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.0, 1.5e-8, 0.0]))
    assert statistics_gap(saved, rounded) == pytest.approx(1.5e-8)
    changed = SampleStatistics(ids, torch.tensor([0.1, 0.25, 0.3]), torch.tensor([0.0, 0.0, 0.0]))
    assert statistics_gap(saved, changed) == pytest.approx(0.05)
    assert statistics_gap(saved, SampleStatistics(torch.tensor([3, 5, 8]), saved.align, saved.contrast)) == math.inf


def _manifest_with_extra():
    from clipmem.data.splits.manifest import SplitManifest

    return SplitManifest(seed=4, shared=tuple(range(0, 40)), candidate=tuple(range(40, 60)),
                         independent=tuple(range(60, 80)), extra=tuple(range(80, 100)))


DESIGNS = {"pair": lambda: PairDesign(), "replicates": lambda: ReplicatesDesign(replicates=3),
           "inout": lambda: InOutDesign(models=6), "crossfit": lambda: CrossFitDesign(folds=3, repeats=2)}


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_no_model_trains_on_held_out_pairs_and_no_two_runs_share_a_model_seed(name):
    """S_E is never trained on (crossfit audits every pair outside S_S, so it trains on S_E rows out of fold only);
    the models of runs seed=0 and seed=1 never share a training seed (seed + index once did)."""
    design, manifest = DESIGNS[name](), _manifest_with_extra()
    plans = {seed: design.plan(manifest, seed) for seed in (0, 1, 2)}
    if name != "crossfit":
        for spec in plans[0].specs:
            assert not set(spec.train_ids) & set(manifest.extra), spec.name
    else:  # every model leaves its own fold out, and the folds cover the pool
        unseen = ~plans[0].membership()
        assert bool(unseen.any(0).all())
    seeds = {seed: {spec.seed for spec in plan.specs} for seed, plan in plans.items()}
    assert not seeds[0] & seeds[1] and not seeds[1] & seeds[2] and not seeds[0] & seeds[2]
