"""The audit's statistics by hand: out-of-fold contrast, rank p-values and their null, the mixture, reliability,
image hashes and the cross-fitted plan."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clipmem.audit.estimate import AuditResult, wrong_count_interval
from clipmem.audit.familiarity import grouped_probability
from clipmem.audit.mixture import (
    decreasing_density,
    expected_precision,
    fit_mixture,
    flag_recall,
    local_probability,
    posterior,
    wrong_upper_bound,
)
from clipmem.audit.ranks import mid_rank, neighbour_score, out_of_sample_statistics, rank_pvalues, unseen_cells
from clipmem.audit.statistics import consensus, percentile, suspicion_statistics
from clipmem.data.splits.manifest import SplitManifest
from clipmem.data.splits.near_duplicates import difference_hashes, hamming, image_hashes, overlap
from clipmem.errors import ConfigError
from clipmem.plan.crossfit import CrossFitDesign
from clipmem.scoring.clipmem import ViewEmbeddings, out_of_fold_contrast
from clipmem.scoring.reliability import half_splits, split_half


def test_out_of_fold_contrast_matches_the_sum_over_the_other_unseen_pairs():
    g = torch.Generator().manual_seed(0)
    image, text = F.normalize(torch.randn(6, 2, 4, generator=g), dim=-1), F.normalize(torch.randn(6, 2, 4, generator=g),
                                                                                        dim=-1)
    outside = torch.tensor([True, False, True, True, False, True])
    got = out_of_fold_contrast(ViewEmbeddings(image, text), outside)
    mean_i, mean_t = image.mean(1), text.mean(1)
    for x in range(6):
        others = [j for j in range(6) if outside[j] and j != x]
        expected = 0.5 * (torch.stack([mean_i[x] @ mean_t[j] for j in others]).mean()
                          + torch.stack([mean_t[x] @ mean_i[j] for j in others]).mean())
        assert torch.allclose(got[x], expected, atol=1e-6), x


def test_rank_pvalues_by_hand():
    similarity = torch.tensor([[0.9, 0.1, 0.2],
                               [0.5, 0.3, 0.4],
                               [0.0, 0.8, 0.6]])
    p = rank_pvalues(similarity)
    assert p["rank_caption"].tolist() == pytest.approx([1 / 3, 3 / 3, 2 / 3])  # row x: captions at least as close
    assert p["rank_image"].tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 3])    # column x: images at least as close
    assert p["rank_joint"].tolist() == pytest.approx([1 / 5, 4 / 5, 2 / 5])     # row and column, the pair counted once
    assert mid_rank(torch.tensor([1 / 3]), torch.tensor([3.0])).item() == pytest.approx(1 / 6)


def test_a_caption_unrelated_to_its_image_ranks_uniformly():
    """The null the probability rests on: when captions carry no information about their images, every rank
    statistic is uniform on {1/n, ..., 1} (simulated over many independent sets)."""
    g = torch.Generator().manual_seed(1)
    n, sets = 40, 300
    values = {name: [] for name in ("rank_caption", "rank_image", "rank_joint")}
    for _ in range(sets):
        image = torch.randn(2, n, 8, generator=g)
        text = torch.randn(2, n, 8, generator=g)
        hub = torch.randn(n, 1, generator=g)  # captions and images that are close to everything (hubs)
        text = text + 2 * hub * torch.ones(8)
        out = out_of_sample_statistics(image, text, torch.zeros(2, n, dtype=torch.bool))
        for name in values:
            values[name].append(out[name])
    for name, found in values.items():
        u = torch.cat(found)
        assert abs(float(u.mean()) - (n + 1) / (2 * n)) < 0.01, name
        assert abs(float((u <= 0.25).double().mean()) - 0.25) < 0.02, name


def test_ranks_find_the_pairs_whose_captions_were_swapped():
    g = torch.Generator().manual_seed(2)
    n = 60
    concept = torch.randn(n, 16, generator=g)
    image = (concept + 0.3 * torch.randn(n, 16, generator=g)).unsqueeze(0)
    text = (concept + 0.3 * torch.randn(n, 16, generator=g)).unsqueeze(0)
    swapped = torch.arange(6)
    text[0, swapped] = text[0, swapped.roll(1)]
    out = out_of_sample_statistics(image, text, torch.zeros(1, n, dtype=torch.bool))
    for name in ("rank_joint", "rank_caption", "rank_image", "neighbours"):
        top = set(torch.argsort(out[name], descending=True)[:6].tolist())
        assert top == set(swapped.tolist()), name


def test_neighbour_score_grows_when_a_pairs_caption_leaves_its_neighbourhood():
    image = torch.tensor([[[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]])
    text = image.clone()
    clean = neighbour_score(image, text, k=1)
    text[0, 0] = torch.tensor([0.0, 1.0])
    wrong = neighbour_score(image, text, k=1)
    assert wrong[0] > clean[0] + 1.0


def test_unseen_cells_group_samples_unseen_by_the_same_models():
    membership = torch.tensor([[1, 1, 0, 0, 1], [0, 0, 1, 1, 0], [1, 1, 0, 0, 0], [0, 1, 1, 1, 1]], dtype=torch.bool)
    cells = unseen_cells(membership)
    assert [(m.tolist(), rows.nonzero().flatten().tolist()) for m, rows in cells] == \
        [([1, 3], [0]), ([1], [1]), ([0, 2], [2, 3]), ([1, 2], [4])]


def test_the_mixture_recovers_the_share_of_wrong_pairs_and_calibrated_probabilities():
    rng = np.random.default_rng(0)
    wrong = rng.uniform(size=300)
    correct = rng.beta(0.3, 4.0, size=2700)
    u = np.concatenate([wrong, correct])
    truth = np.r_[np.ones(300, bool), np.zeros(2700, bool)]
    fit = fit_mixture(u)
    assert fit.converged and 0.08 < fit.wrong_fraction < 0.12
    p = posterior(u, fit)
    assert p.sum() == pytest.approx(fit.wrong_fraction * len(u), rel=1e-3)  # the maximum's score equation
    low, high = wrong_count_interval(u, fit, 100, seed=0)
    assert low < 300 < high and high - low < 150
    flagged = p >= 0.5
    assert abs(p[flagged].mean() - truth[flagged].mean()) < 0.05  # predicted vs measured precision


def _ranks(wrong: int, correct: int, a: float = 0.3, b: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mid-ranks of ``wrong`` pairs (uniform) and ``correct`` ones (Beta(a, b)), and which are wrong."""
    rng = np.random.default_rng(seed)
    u = np.concatenate([rng.uniform(size=wrong), rng.beta(a, b, size=correct)])
    return u, np.r_[np.ones(wrong, bool), np.zeros(correct, bool)]


def test_grenander_density_is_non_increasing_and_integrates_to_one():
    u, _ = _ranks(500, 4500)
    order = np.argsort(u)
    density = decreasing_density(u)[order]
    assert np.all(np.diff(density) <= 1e-9)
    assert np.trapezoid(density, u[order]) == pytest.approx(1.0, abs=0.02)
    flat = decreasing_density(np.random.default_rng(3).uniform(size=4000))
    assert np.median(flat) == pytest.approx(1.0, abs=0.05)  # a uniform sample: density 1


@pytest.mark.parametrize(("a", "b"), [(0.3, 4.0), (0.9, 1.6)])  # well separated; correct pairs spread wide
def test_with_the_true_share_flags_have_their_predicted_precision_and_recall(a, b):
    """Wrong captions rank uniformly: given π, the share of wrong pairs above any u and the recall of flagging them
    follow without any assumption on the correct pairs, even when those spread almost uniformly (0.9, 1.6)."""
    u, truth = _ranks(6000, 54000, a, b)  # large enough that sampling noise (sd < 0.01) leaves the bias visible
    p = local_probability(u, 0.1)
    for top in (0.05, 0.2):
        flagged = u >= np.quantile(u, 1 - top)
        assert abs(expected_precision(u, flagged, 0.1) - truth[flagged].mean()) < 0.03
        assert abs(flag_recall(u, flagged) - truth[flagged].sum() / truth.sum()) < 0.03
    assert np.all(np.diff(p[np.argsort(u)]) >= -1e-12)  # the probability grows with the rank
    for low, high in [(0.0, 0.2), (0.2, 0.5), (0.5, 0.9)]:  # reliability bins: stated probability = measured share
        in_bin = (p >= low) & (p < high)
        assert in_bin.sum() > 100 and abs(p[in_bin].mean() - truth[in_bin].mean()) < 0.04


def test_storeys_bound_lies_above_the_true_share():
    for a, b in [(0.3, 4.0), (0.9, 1.2)]:
        u, truth = _ranks(300, 2700, a, b, seed=2)
        assert wrong_upper_bound(u) >= truth.mean()
    u, _ = _ranks(0, 3000)
    assert wrong_upper_bound(u) < 0.05


@pytest.mark.parametrize(("a", "b", "close"), [(0.3, 4.0, True), (0.5, 3.0, True), (0.9, 1.6, False)])
def test_the_estimated_count_is_close_only_when_correct_pairs_rank_near_the_top(a, b, close):
    """1,000 pairs, 10 % wrong: with correct ranks near the top the estimate is within 40 % of the truth; with correct
    ranks spread (mean 0.36, as nano models give on the prepared sets) it runs high, stable or not: an upper
    estimate, never below the truth here."""
    u, truth = _ranks(100, 900, a, b)
    fit = fit_mixture(u)
    assert fit.wrong_fraction >= 0.9 * truth.mean()
    assert (abs(fit.wrong_fraction - truth.mean()) <= 0.4 * truth.mean()) == close


def test_stable_means_a_bootstrap_interval_narrower_than_the_estimate():
    u, _ = _ranks(300, 2700)
    fit = fit_mixture(u)

    def result(interval: tuple[float, float]) -> AuditResult:
        return AuditResult(statistic="rank_joint", statistics={}, suspicion=torch.zeros(3000),
                           probability=torch.from_numpy(local_probability(u, fit.wrong_fraction)),
                           flagged=torch.zeros(3000, dtype=torch.bool), block=torch.zeros(3000), fit=fit,
                           reliability={}, wrong_interval=interval, min_probability=0.5, ranks=torch.from_numpy(u))

    estimate = float(local_probability(u, fit.wrong_fraction).sum())
    assert result(wrong_count_interval(u, fit, 100, seed=0)).estimate_stable()
    assert not result((0.0, 2 * estimate)).estimate_stable()


def test_the_count_is_the_quantity_its_interval_is_for():
    """Seen on Open Clip Art: the probabilities' sum (π / f_g(u) capped at 1) lay below the whole bootstrap interval
    of N·π (895 against [921, 1132]). The count is N·π, inside its interval."""
    u, _ = _ranks(700, 6200, a=0.2, b=6.0)
    fit = fit_mixture(u)
    groups = np.arange(len(u)) % 7
    probability = torch.from_numpy(grouped_probability(u, groups, fit.wrong_fraction))
    result = AuditResult(statistic="rank_by_familiarity", statistics={}, suspicion=torch.zeros(len(u)),
                         probability=probability, flagged=probability >= 0.5, block=torch.zeros(len(u)), fit=fit,
                         reliability={"reliability": 1.0, "low": 1.0, "high": 1.0, "rho": 1.0},
                         wrong_interval=wrong_count_interval(u, fit, 100, seed=0), min_probability=0.5,
                         ranks=torch.from_numpy(u), groups=torch.from_numpy(groups))
    low, high = result.wrong_interval
    assert result.wrong_count() == pytest.approx(fit.wrong_fraction * len(u))
    assert low <= result.wrong_count() <= high
    assert float(probability.sum()) < result.wrong_count()  # capped: the sum is not the count


def test_an_estimate_at_the_lower_bound_is_never_called_stable():
    """Ranks a Beta can take in whole (here: no wrong pair at all) send π to its bound, and every bootstrap resample
    with it: a zero-width interval that must not read as a stable count of zero."""
    u = np.random.default_rng(0).beta(0.6, 1.6, size=1000)
    fit = fit_mixture(u)
    assert fit.at_lower_bound
    probability = torch.from_numpy(local_probability(u, fit.wrong_fraction))
    result = AuditResult(statistic="rank_joint", statistics={}, suspicion=torch.zeros(1000), probability=probability,
                         flagged=probability >= 0.5, block=torch.zeros(1000), fit=fit, reliability={},
                         wrong_interval=wrong_count_interval(u, fit, 20, seed=0), min_probability=0.5,
                         ranks=torch.from_numpy(u))
    low, high = result.wrong_interval
    assert high - low < 1.0 and result.estimate_at_bound() and not result.estimate_stable()
    assert not fit_mixture(u, wrong_fraction=0.1).at_lower_bound


def test_a_given_share_is_kept_by_the_mixture():
    u, _ = _ranks(300, 2700)
    fit = fit_mixture(u, wrong_fraction=0.25)
    assert fit.wrong_fraction == 0.25 and fit.a <= 1.0 <= fit.b


def test_no_wrong_pairs_gives_a_small_estimate():
    u = np.random.default_rng(1).beta(0.3, 4.0, size=2000)
    fit = fit_mixture(u)
    assert fit.wrong_fraction * len(u) < 20


def test_half_splits_are_distinct_and_split_half_of_identical_halves_is_one():
    assert half_splits([0, 1], 10, 0) == [([0], [1])]
    splits = half_splits([0, 1, 2, 3], 10, 0)
    assert len(splits) == 3 and all(0 in a for a, _ in splits)
    g = torch.Generator().manual_seed(0)
    base = torch.randn(200, generator=g)
    same = split_half(lambda units: base, [0, 1], draws=50)
    assert same["reliability"] == pytest.approx(1.0) and same["low"] == pytest.approx(1.0)
    noisy = split_half(lambda units: base + torch.randn(200, generator=g), [0, 1], draws=200)
    assert 0.4 < noisy["reliability"] < 0.95 and noisy["low"] < noisy["reliability"] < noisy["high"]


def test_suspicion_statistics_from_the_right_models():
    membership = torch.tensor([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=torch.bool)
    align = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    values = suspicion_statistics(align, torch.zeros(4, 2), membership)
    assert torch.allclose(values["memorization"], torch.tensor([0.8 - 0.3, 0.7 - 0.2], dtype=torch.float64))
    assert torch.allclose(values["low_consistency"], torch.tensor([-0.3, -0.2], dtype=torch.float64))
    assert torch.allclose(values["clipscore"], torch.tensor([-0.2, -0.1], dtype=torch.float64))  # first out model
    assert torch.allclose(values["low_fit"], torch.tensor([-0.8, -0.7], dtype=torch.float64))  # models that trained


def test_consensus_is_the_mean_percentile_and_ignores_each_views_scale():
    g = torch.Generator().manual_seed(0)
    views = {name: torch.randn(50, generator=g, dtype=torch.float64) for name in ("a", "b", "c")}
    mean = consensus(views, ("a", "b", "c"))
    assert ((mean > 0) & (mean <= 1)).all()
    assert torch.allclose(mean, (percentile(views["a"]) + percentile(views["b"]) + percentile(views["c"])) / 3)
    rescaled = {**views, "a": torch.exp(100 * views["a"])}  # any increasing map of one view: the same consensus
    assert torch.equal(consensus(rescaled, ("a", "b", "c")), mean)
    top = torch.stack(list(views.values())).sum(0).argmax()
    for view in views.values():
        view[top] = 10.0  # the most suspicious in every view: the top of the consensus, at 1
    assert float(consensus(views, ("a", "b", "c"))[top]) == 1.0
    ties = torch.tensor([2.5, 1.0, 2.5], dtype=torch.float64) / 3  # tied values share their mean rank
    assert torch.equal(percentile(torch.tensor([2.0, 1.0, 2.0])), ties)


def test_image_hashes_find_exact_and_near_copies():
    g = torch.Generator().manual_seed(0)
    base = torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8, generator=g)
    smooth = torch.nn.functional.interpolate(base.float(), size=(64, 64), mode="bilinear").round().to(torch.uint8)
    query = torch.stack([smooth[0], (smooth[1].int() + 3).clamp(0, 255).to(torch.uint8), smooth[2].flip(-1)])
    found = overlap(image_hashes(query), image_hashes(smooth))
    assert found == ["exact", "near", ""]
    assert hamming(difference_hashes(smooth[:1]), difference_hashes(smooth[:1])).item() == 0


def _manifest(n: int) -> SplitManifest:
    ids = tuple(range(n))
    return SplitManifest(seed=3, shared=(100, 101), candidate=ids[: n // 2], independent=ids[n // 2:], extra=())


def test_crossfit_plan_scores_every_pair_out_of_fold_in_each_repeat():
    design = CrossFitDesign(folds=4, repeats=3, block_size=5)
    plan = design.plan(_manifest(43), seed=0)
    membership = plan.membership()
    assert plan.scored_ids == tuple(range(43)) and plan.contrast_reference == "out_of_fold"
    assert (~membership).sum(0).tolist() == [3] * 43  # unseen by one model per repeat
    assert membership.sum(0).tolist() == [9] * 43
    assert all(set(spec.train_ids) >= {100, 101} for spec in plan.specs)  # S_S trains every model
    sizes = [len(spec.train_ids) - 2 for spec in plan.specs]
    assert max(sizes) - min(sizes) <= 5  # whole blocks of 4-5 pairs per fold
    cells = unseen_cells(membership)
    assert all(len(models) == 3 and int(rows.sum()) >= 4 for models, rows in cells)  # blocks share their R models
    folds_of = [tuple(membership[r * 4:(r + 1) * 4].float().argmin(0).tolist()) for r in range(3)]
    assert len(set(folds_of)) == 3  # every repeat partitions the blocks afresh
    seeds = [spec.seed for spec in plan.specs]
    assert len(set(seeds)) == 3 and seeds[:4] == [seeds[0]] * 4
    assert [s.seed for s in CrossFitDesign(4, 3).plan(_manifest(43), seed=1).specs][0] not in seeds


def test_crossfit_refuses_too_few_pairs_and_bad_settings():
    with pytest.raises(ConfigError, match="needs at least 20 pairs"):
        CrossFitDesign(folds=5).plan(_manifest(8), seed=0)
    with pytest.raises(ConfigError, match="design.folds"):
        CrossFitDesign(folds=1)
    with pytest.raises(ConfigError, match="design.repeats"):
        CrossFitDesign(repeats=0)


def test_near_duplicate_groups_stay_on_one_side_of_every_partition():
    """Planted near-duplicates (a picture and slightly brightened copies) are grouped by the data; in/out halves and
    cross-fitted folds never split a group, so no model trains on a copy of a pair it is called out of."""
    import dataclasses

    from clipmem.data.splits.near_duplicates import duplicate_groups
    from clipmem.plan import InOutDesign

    g = torch.Generator().manual_seed(3)
    images = torch.nn.functional.interpolate(torch.randint(0, 256, (40, 3, 8, 8), generator=g).float(),
                                             size=(32, 32), mode="bilinear").round().clamp(0, 255).to(torch.uint8)
    planted = {0: [1, 2], 5: [6], 10: [11, 12, 13]}
    for source, copies in planted.items():
        for c in copies:
            images[c] = (images[source].int() + 2).clamp(0, 255).to(torch.uint8)
    ids = list(range(100, 140))
    groups = duplicate_groups(ids, image_hashes(images))
    assert groups == ((100, 101, 102), (105, 106), (110, 111, 112, 113))
    manifest = dataclasses.replace(SplitManifest(seed=1, shared=(), candidate=tuple(ids[:20]),
                                                 independent=tuple(ids[20:]), extra=()), near_duplicates=groups)
    for design in (CrossFitDesign(folds=4, repeats=1), InOutDesign(models=6)):
        plan = design.plan(manifest, seed=0)
        membership = plan.membership()
        for group in groups:
            columns = [plan.scored_ids.index(i) for i in group]
            assert all(len(set(membership[m, columns].tolist())) == 1 for m in range(len(plan.specs))), design.name
    assert SplitManifest.from_json(manifest.to_json()).near_duplicates == groups
