"""Familiarity and ranks read within groups of like familiarity: familiarity comes from the models that never saw
the pair; where correct pairs' ranks depend on it, the grouped ranking separates better than the pooled one, its
flags' recall is predicted, and a review of its top still counts the wrong pairs."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from clipmem.audit.familiarity import familiarity, familiarity_groups, grouped_probability, grouped_suspicion
from clipmem.audit.mixture import flag_recall
from clipmem.audit.review import Ranks, Review, estimate_from_review
from clipmem.evaluation.auc import flag_auc


def two_models(n: int = 40, dim: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Embeddings (2, n, dim) and membership (2, n): model 0 trained on the first half, model 1 on the second."""
    generator = torch.Generator().manual_seed(seed)
    image, text = torch.randn(2, n, dim, generator=generator), torch.randn(2, n, dim, generator=generator)
    membership = torch.zeros(2, n, dtype=torch.bool)
    membership[0, : n // 2] = True
    membership[1, n // 2:] = True
    return image, text, membership


def test_a_pair_with_near_duplicates_is_more_familiar_by_the_models_that_never_saw_it():
    image, text, membership = two_models()
    for i in (21, 22, 23, 24, 25):  # pair 20 (unseen by model 0) has five near copies of its image and caption
        image[:, i] = image[:, 20] + 0.01 * torch.randn(2, 32)
        text[:, i] = text[:, 20] + 0.01 * torch.randn(2, 32)
    known = familiarity(image, text, membership, k=5)
    assert known[20] > 1.9 and known[20] > known[30] + 1.0
    changed = image.clone()
    changed[1, 20] = -changed[1, 20]  # model 1 trained on pair 20: what it makes of it does not count for pair 20
    assert familiarity(changed, text, membership, k=5)[20] == known[20]
    assert torch.isfinite(known).all() and float(known.max()) <= 2 + 1e-9


def test_groups_are_about_the_given_size_and_ties_stay_together():
    values = np.repeat(np.arange(100.0), 10)  # 1,000 pairs, ten of each value
    groups = familiarity_groups(values, size=250)
    assert sorted(np.bincount(groups).tolist()) == [250, 250, 250, 250]
    assert all(len(set(groups[values == v])) == 1 for v in np.unique(values))
    assert (np.diff(groups[np.argsort(values, kind="stable")]) >= 0).all()  # group 0 the least familiar
    assert set(familiarity_groups(values[:300], size=250)) == {0}


def simulated(rng: np.random.Generator, n: int = 2000, share: float = 0.1) -> tuple[np.ndarray, ...]:
    """Mid-ranks, familiarity and the wrong pairs: wrong pairs rank uniformly at any familiarity; a correct pair
    is unpredictable (uniform) with probability 1 − familiarity, else near the top."""
    known = rng.random(n)
    wrong = rng.random(n) < share
    u = rng.beta(0.3, 8.0, n)
    blind = rng.random(n) > known
    u[blind | wrong] = rng.random(int((blind | wrong).sum()))
    return np.clip(u, 1e-6, 1 - 1e-6), known, wrong


def test_ranks_read_within_familiarity_groups_separate_better_and_their_recall_is_predicted():
    rng = np.random.default_rng(0)
    gains, predicted, measured = [], [], []
    for _ in range(20):
        u, known, wrong = simulated(rng)
        groups = familiarity_groups(known, 250)
        suspicion = grouped_suspicion(u, groups)
        truth = torch.from_numpy(wrong)
        gains.append(flag_auc(torch.from_numpy(suspicion), truth) - flag_auc(torch.from_numpy(u), truth))
        flagged = suspicion >= np.quantile(suspicion, 0.9)
        predicted.append(flag_recall(u, flagged, groups))
        measured.append(wrong[flagged].sum() / wrong.sum())
        probability = grouped_probability(u, groups, 0.1)
        by_suspicion = probability[np.argsort(-suspicion, kind="stable")]
        assert (np.diff(by_suspicion) <= 1e-12).all()  # p = π · suspicion, at most 1: flags are the top rows
    assert np.mean(gains) > 0.02 and min(gains) > 0
    assert abs(np.mean(predicted) - np.mean(measured)) < 0.03


def test_a_review_of_the_grouped_top_counts_the_wrong_pairs():
    rng = np.random.default_rng(1)
    ratios, covered = [], []
    for _ in range(30):
        u, known, wrong = simulated(rng)
        groups = familiarity_groups(known, 250)
        suspicion = grouped_suspicion(u, groups)
        reviewed = np.zeros(len(u), bool)
        reviewed[np.argsort(-suspicion, kind="stable")[:300]] = True
        estimate = estimate_from_review(Ranks(u, order=suspicion, groups=groups), Review(reviewed, wrong))
        ratios.append(estimate.estimated_wrong / wrong.sum())
        covered.append(estimate.low <= wrong.sum() <= estimate.high)
    assert abs(np.mean(ratios) - 1) < 0.06 and np.mean(covered) >= 0.85


def test_unit_embeddings_give_familiarity_in_its_range():
    image, text, membership = two_models(n=12)
    known = familiarity(F.normalize(image, dim=-1), F.normalize(text, dim=-1), membership, k=3)
    assert ((known >= -2) & (known <= 2)).all()


def test_the_auc_keeps_a_tie_break_finer_than_float32():
    scores = torch.tensor([1.0, 1.0 + 1e-9, 1.0 + 2e-9, 0.5], dtype=torch.float64)
    assert flag_auc(scores, torch.tensor([False, True, True, False])) == 1.0  # float32 would tie them: 0.75
