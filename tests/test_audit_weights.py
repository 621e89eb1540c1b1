"""Where wrong pairs lie among the familiarity groups: a correct pair's image and caption familiarities rise
together, a wrong pair's are independent, so wrong pairs crowd the middle groups; the groups' weights say by how
much, and the flags' recall and a review's count read with them stay unbiased where equal shares would not."""

from __future__ import annotations

import numpy as np

from clipmem.audit.familiarity import grouped_probability, grouped_suspicion, wrong_pair_weights
from clipmem.audit.mixture import flag_recall
from clipmem.audit.review import Ranks, Review, estimate_from_review


def simulated(rng: np.random.Generator, n: int = 2000, share: float = 0.1) -> dict[str, np.ndarray]:
    """A set whose pairs show concepts of commonness c ~ U(0, 1): a correct pair's image and caption familiarities
    are c plus noise; a wrong pair (``share`` of them) carries the caption of another wrong pair, so its caption
    familiarity is that pair's. Correct pairs are predictable (rank near the top) when their concept is common
    (with probability c), else rank uniformly; wrong pairs rank uniformly."""
    common = rng.random(n)
    image_side, caption_side = common + 0.15 * rng.standard_normal(n), common + 0.15 * rng.standard_normal(n)
    wrong = np.zeros(n, bool)
    wrong[rng.choice(n, round(share * n), replace=False)] = True
    chosen = np.flatnonzero(wrong)
    caption_side[chosen] = caption_side[np.roll(chosen, 1)]  # the captions go round among the wrong pairs
    u = rng.beta(0.3, 8.0, n)
    blind = (rng.random(n) > common) | wrong
    u[blind] = rng.random(int(blind.sum()))
    return {"u": np.clip(u, 1e-6, 1 - 1e-6), "image": image_side, "caption": caption_side, "wrong": wrong}


def grouped(data: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(groups, weights) of 8 familiarity groups of 250 pairs."""
    return wrong_pair_weights(data["image"], data["caption"], 250)


def test_the_weights_follow_where_wrong_pairs_lie_and_average_to_one():
    rng = np.random.default_rng(0)
    truth, weights = [], []
    for _ in range(20):
        data = simulated(rng)
        groups, w = grouped(data)
        assert np.isclose(w.mean(), 1.0)  # Σ_g p_g w_g = 1
        truth.append([data["wrong"][groups == g].mean() / data["wrong"].mean() for g in range(8)])
        weights.append([w[groups == g][0] for g in range(8)])
    truth, weights = np.mean(truth, 0), np.mean(weights, 0)
    assert truth[0] < 0.8 and truth[-1] < 0.8 and truth[3:5].min() > 1.1  # wrong pairs crowd the middle
    assert np.abs(weights - truth).max() < 0.15


def test_recall_and_a_review_s_count_read_with_the_weights_are_closer_than_with_equal_shares():
    rng = np.random.default_rng(1)
    error, error_equal, error_own, ratios, ratios_equal = [], [], [], [], []
    for _ in range(20):
        data = simulated(rng)
        u, wrong = data["u"], data["wrong"]
        groups, w = grouped(data)
        suspicion = grouped_suspicion(u, groups, w)
        probability = grouped_probability(u, groups, 0.1, w)
        assert (np.diff(probability[np.argsort(-suspicion, kind="stable")]) <= 1e-12).all()  # flags: the top rows
        flagged = suspicion >= np.quantile(suspicion, 0.9)
        error_own.append(flag_recall(u, flagged, groups, w) - wrong[flagged].sum() / wrong.sum())
        equal = grouped_suspicion(u, groups)  # the same flags read both ways: the top tenth of the equal-share order
        flagged = equal >= np.quantile(equal, 0.9)
        measured = wrong[flagged].sum() / wrong.sum()
        error.append(flag_recall(u, flagged, groups, w) - measured)
        error_equal.append(flag_recall(u, flagged, groups) - measured)
        reviewed = np.zeros(len(u), bool)
        reviewed[np.argsort(-suspicion, kind="stable")[:300]] = True
        for weights, out in ((w, ratios), (None, ratios_equal)):
            ranks = Ranks(u, order=suspicion, groups=groups, weights=weights)
            out.append(estimate_from_review(ranks, Review(reviewed, wrong)).estimated_wrong / wrong.sum())
    assert abs(np.mean(error)) < 0.02 and np.mean(error_equal) > 0.03
    assert abs(np.mean(error_own)) < 0.04  # thresholds placed by the same ranks leave a small optimism
    assert abs(np.mean(ratios) - 1) < 0.06 and abs(np.mean(ratios_equal) - 1) > abs(np.mean(ratios) - 1)


def test_one_group_weighs_every_pair_one():
    rng = np.random.default_rng(2)
    image, caption = rng.random(300), rng.random(300)
    groups, weights = wrong_pair_weights(image, caption, 250)
    assert (groups == 0).all() and (weights == 1).all()


def test_the_weighted_share_of_wrong_pairs_above_the_lowest_row_is_at_most_one():
    groups, w = grouped(simulated(np.random.default_rng(1)))  # weights whose float mean is 1 + 2e-16
    n = len(w)
    p = np.full(n, 1.0 / n)  # every row on the lowest step of its grid: each catches all of its group's wrong pairs
    ranks = Ranks(p, steps=np.full(n, n), compared=np.full(n, n), order=p, groups=groups, weights=w)
    share = ranks.null_share(float(p.min()))
    assert 0.99 < share <= 1.0  # every row at or above the lowest: all the wrong pairs, rounding kept inside
