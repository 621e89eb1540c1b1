"""How many pairs are wrong, from a curator's review of the top of the audit's ranking (pure: no files).

Without a review the number of wrong pairs is not identified: correct pairs the models cannot predict rank exactly
like wrong ones (docs/audit.md, "How many are wrong"). A review identifies it. The review covers

* the first rows of audit.csv, down to ``t_top`` in its order (w_top wrong found there), and
* optionally a random sample of m of the N_b rows between the lowest reviewed row t and ``t_top`` (w found).

The wrong pairs at or above t are then counted by design, without a model: A = w_top + w · N_b / m. Below t nothing
was reviewed; there the audit's null fills in: wrong captions rank uniformly (and are as common among familiar as
among unfamiliar pairs), so a known share s of all K wrong pairs lies at or above t, whatever the correct pairs do
(s ≈ 1 − t for ``rank_joint``; ``Ranks.null_share``), and K̂ = A / s.
The interval is the posterior of K under a Jeffreys prior on the sampled share and a flat prior on K
(A ~ Binomial(K, s)), drawn by Monte Carlo. A review that reaches the bottom (a random sample of every row below the
top) leans on no model; one of the top alone leans on the uniform null, and a set whose wrong captions rank unlike
uniform (docs/audit.md) moves its count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from clipmem.audit.familiarity import grouped_probability

RANDOM_SAMPLE_ALPHA = 0.01  # below this p-value the rows reviewed below the top do not look like a random sample


@dataclass(frozen=True)
class Review:
    """A curator's verdicts on audited rows: ``reviewed`` (N,) bool and ``wrong`` (N,) bool (True: the caption is
    wrong; only read where reviewed), in the order of the ranks they go with."""

    reviewed: np.ndarray
    wrong: np.ndarray

    def __post_init__(self) -> None:
        if self.reviewed.shape != self.wrong.shape:
            raise ValueError(f"reviewed {self.reviewed.shape} and wrong {self.wrong.shape} differ in shape")

    @property
    def found(self) -> np.ndarray:
        """(N,) bool: reviewed and wrong."""
        return self.reviewed & self.wrong


@dataclass(frozen=True)
class ReviewEstimate:
    """The number of wrong pairs in the audited set estimated from a review.

    rows: N audited; reviewed: rows reviewed; found: wrong among them; top: the value of audit.csv's order down to
    which every row was reviewed (NaN when the first row was not: then ``sampled`` holds every reviewed row);
    top_rows: the rows there; lowest: the lowest reviewed value t; sampled / between: the rows reviewed / there are
    between t and ``top``; above: A, the wrong pairs at or above t (counted by design); share: the share of all wrong
    pairs there under the uniform null; estimated_wrong: K̂ = A / share; low, high: its interval at
    ``level``; sample_p: a Kolmogorov–Smirnov p-value that the rows reviewed below the top are a random sample of
    the rows there (1.0 when there are none).
    """

    rows: int
    reviewed: int
    found: int
    top: float
    top_rows: int
    lowest: float
    sampled: int
    between: int
    above: float
    share: float
    estimated_wrong: float
    low: float
    high: float
    level: float
    sample_p: float

    @property
    def wrong_fraction(self) -> float:
        return self.estimated_wrong / self.rows

    @property
    def remaining(self) -> float:
        """Expected wrong pairs among the rows not reviewed: K̂ − found."""
        return max(0.0, self.estimated_wrong - self.found)

    @property
    def extrapolated(self) -> float:
        """The share of K̂ that lies below the lowest reviewed rank, filled in by the uniform null: 1 − share (about
        0 for a review that reaches the bottom of the ranking)."""
        return 1 - self.share

    @property
    def random_sample(self) -> bool:
        """Whether the rows reviewed below the top may be a random sample of the rows there (the count assumes so)."""
        return self.sample_p >= RANDOM_SAMPLE_ALPHA

    def metrics(self) -> dict[str, float | int | bool | None]:
        """metrics.json's ``audit_review_*`` keys (the sample check's null when no row was reviewed below the top)."""
        return {"audit_review_rows": self.reviewed, "audit_review_wrong": self.found, "audit_review_top": self.top,
                "audit_review_top_rows": self.top_rows,
                "audit_review_lowest": self.lowest, "audit_review_sampled": self.sampled,
                "audit_review_between": self.between, "audit_review_wrong_above": self.above,
                "audit_review_share": self.share,
                "audit_review_estimated_wrong": self.estimated_wrong, "audit_review_estimated_wrong_low": self.low,
                "audit_review_estimated_wrong_high": self.high, "audit_review_level": self.level,
                "audit_review_remaining_wrong": self.remaining, "audit_review_extrapolated": self.extrapolated,
                **({"audit_review_sample_p": self.sample_p, "audit_review_random_sample": self.random_sample}
                   if self.sampled else {"audit_review_sample_p": None, "audit_review_random_sample": None})}


@dataclass(frozen=True)
class Ranks:
    """Every audited row's rank p-value ``p`` (N,) in (0, 1] (the rank statistic the audit's probabilities come from:
    1 the least predicted), ``steps`` (N,), the number of values it can take (2n − 1 for ``rank_joint`` in a block of
    n, n for the others; None: continuous ranks), ``compared`` (N,) the block sizes n (the audit's mid-rank is
    u = p − ½ / n; None: u = p), ``order`` (N,) the rank order, most suspicious first (None: p) and ``groups``
    (N,) the familiarity groups the order reads the ranks in (None: one group), with ``weights`` (N,) how common wrong
    pairs are in each row's group (audit.csv's ``familiarity_weight``; None: as common in every group). Within a
    group the order must rise with u, as every rank statistic's and ``rank_by_familiarity``'s does.
    ``sampled_below_top``: whether rows reviewed below the fully reviewed top of the rank order may be read as a
    sample of the rows there (False when audit.csv is in another order, ``consensus``: a curator going down it picks
    rows there by other statistics)."""

    p: np.ndarray
    steps: np.ndarray | None = None
    compared: np.ndarray | None = None
    order: np.ndarray | None = None
    groups: np.ndarray | None = None
    weights: np.ndarray | None = None
    sampled_below_top: bool = True

    @property
    def u(self) -> np.ndarray:
        return self.p if self.compared is None else self.p - 0.5 / self.compared

    @property
    def ordering(self) -> np.ndarray:
        return self.p if self.order is None else self.order

    def null_share(self, threshold: float) -> float:
        """The chance that a wrong pair, ranked uniformly on its row's grid {1/J, …, 1} and as likely in a group as its
        ``weights`` say, lies among the rows ordered at or above ``threshold``: in each group those are the rows with
        u ≥ the group's lowest u there, so the share is the weighted mean over rows of P(u ≥ that u) (1 − u for
        continuous ranks)."""
        u, inside = self.u, self.ordering >= threshold
        groups = np.zeros(len(u), dtype=np.int64) if self.groups is None else np.asarray(self.groups)
        lowest = np.full(len(u), np.inf)
        for group in np.unique(groups[inside]):
            chosen = groups == group
            lowest[chosen] = u[inside & chosen].min()
        cut = lowest + (self.p - u)  # the p each row needs to reach its group's lowest u
        weights = np.ones(len(u)) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        if self.steps is None:
            return min(1.0, float((weights * np.clip(1 - cut, 0.0, 1.0)).mean()))  # the weights average to 1
        steps = np.asarray(self.steps, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            at_or_above = np.where(np.isinf(cut), 0.0, steps - np.ceil(cut * steps - 1e-9) + 1)
        return min(1.0, float((weights * np.clip(at_or_above / steps, 0.0, 1.0)).mean()))


def top_threshold(order: np.ndarray, reviewed: np.ndarray) -> float:
    """The lowest value t_top of audit.csv's ``order`` (N,) such that every row at or above it was reviewed (inf when
    the first row was not): how far down the top of audit.csv the review reached without a gap. Tied rows count
    together."""
    unreviewed = order[~reviewed]
    ceiling = float(unreviewed.max()) if unreviewed.size else -np.inf
    above = order[reviewed & (order > ceiling)]
    return float(above.min()) if above.size else np.inf


@dataclass(frozen=True)
class ReviewCounts:
    """What the interval needs: ``top_found`` wrong in the fully reviewed top; ``sample_found`` wrong among ``sampled``
    of the ``between`` rows below it; ``share`` of the wrong pairs ranked at or above the lowest reviewed row under the
    uniform null; ``most``: the largest possible count (rows less those reviewed correct)."""

    top_found: int
    sample_found: int
    sampled: int
    between: int
    share: float
    most: int


def count_interval(counts: ReviewCounts, level: float = 0.95, draws: int = 20_000, seed: int = 0
                   ) -> tuple[float, float]:
    """Percentile interval of K from ``draws`` of its posterior: the sampled stratum's share of wrong pairs from
    Beta(w + ½, m − w + ½), its unreviewed rows from the binomial, and K − A from the negative binomial that a flat
    prior on K gives for A ~ Binomial(K, share)."""
    if not 0.0 < counts.share <= 1.0:
        raise ValueError(f"the share of wrong pairs ranked at or above the lowest reviewed row must be in (0, 1], "
                         f"got {counts.share}")
    rng = np.random.default_rng([seed, 0x5EE])
    above = np.full(draws, counts.top_found, dtype=np.int64)
    if counts.sampled:
        share = rng.beta(counts.sample_found + 0.5, counts.sampled - counts.sample_found + 0.5, draws)
        above += counts.sample_found + rng.binomial(counts.between - counts.sampled, share)
    total = above + rng.negative_binomial(above + 1, counts.share)
    tail = (1 - level) / 2
    low, high = np.quantile(np.minimum(total, counts.most), [tail, 1 - tail])
    return float(low), float(high)


def estimate_from_review(ranks: Ranks, review: Review, level: float = 0.95) -> ReviewEstimate:
    """K̂ = A / share with its interval from every audited row's ``ranks`` and the ``review`` of some of them (module
    docstring); at least one row must be reviewed."""
    p = np.asarray(ranks.ordering, dtype=np.float64)
    reviewed, found = review.reviewed.astype(bool), review.found.astype(bool)
    if not reviewed.any():
        raise ValueError("the review has no reviewed row")
    top = top_threshold(p, reviewed)
    if not ranks.sampled_below_top:
        if not np.isfinite(top):
            raise ValueError("the first row of the rank order was not reviewed: the count starts from the top of it")
        reviewed = reviewed & (p >= top)  # rows picked below it by another order are found, not a sample
    lowest = float(p[reviewed].min())
    below_top = (p >= lowest) & (p < top)
    counts = ReviewCounts(
        top_found=int((found & (p >= top)).sum()), sample_found=int((found & below_top).sum()),
        sampled=int((reviewed & below_top).sum()), between=int(below_top.sum()),
        share=max(ranks.null_share(lowest), 1e-12), most=len(p) - int((review.reviewed & ~found).sum()))
    above = counts.top_found + (counts.sample_found * counts.between / counts.sampled if counts.sampled else 0.0)
    low, high = count_interval(counts, level)
    found_anywhere = int(found.sum())  # with rows reviewed outside the rank order's top: a floor on the count
    return ReviewEstimate(
        rows=len(p), reviewed=int(review.reviewed.sum()), found=found_anywhere, lowest=lowest,
        top=top if np.isfinite(top) else float("nan"), top_rows=int((p >= top).sum()), sampled=counts.sampled,
        between=counts.between, above=above, share=counts.share,
        estimated_wrong=max(found_anywhere, min(float(counts.most), above / counts.share)),
        low=max(low, found_anywhere), high=max(high, found_anywhere), level=level,
        sample_p=sample_check(p[reviewed & below_top], p[~reviewed & below_top]))


def sample_check(sampled: np.ndarray, rest: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov p-value that the reviewed ranks ``sampled`` and the unreviewed ``rest`` (between
    the lowest reviewed rank and the fully reviewed top) come from one distribution; 1.0 when either is empty."""
    if sampled.size == 0 or rest.size == 0:
        return 1.0
    return float(stats.ks_2samp(sampled, rest).pvalue)


def reviewed_probability(ranks: Ranks, review: Review, wrong_fraction: float) -> np.ndarray:
    """(N,) probability of a wrong caption: the verdict (1 or 0) where reviewed, else the uniform share of the
    density of the mid-ranks at u in the row's group (``grouped_probability``) at the reviewed share of wrong pairs."""
    groups = np.zeros(len(ranks.p), dtype=np.int64) if ranks.groups is None else ranks.groups
    probability = grouped_probability(ranks.u, groups, wrong_fraction, ranks.weights)
    return np.where(review.reviewed, review.wrong.astype(np.float64), probability)


def expected_unreviewed_wrong(ranks: Ranks, review: Review, estimate: ReviewEstimate, lowest: float) -> float:
    """Expected wrong pairs among the unreviewed rows ranked at or above ``lowest``: K̂ · null share of the wrong
    pairs rank there, less those the review found there (at least 0). For the rows just below the reviewed top this
    is what the next batch of review would find."""
    found_there = int((review.found & (ranks.ordering >= lowest)).sum())
    return max(0.0, estimate.estimated_wrong * ranks.null_share(lowest) - found_there)


def unreviewed_wrong_rate(ranks: Ranks, review: Review, estimate: ReviewEstimate, lowest: float) -> float:
    """Expected share of wrong pairs among the unreviewed rows ordered at or above ``lowest`` (rows tied there share
    its expectation): ``expected_unreviewed_wrong`` per such row."""
    there = int(((ranks.ordering >= lowest) & ~review.reviewed).sum())
    return expected_unreviewed_wrong(ranks, review, estimate, lowest) / max(there, 1)


def next_rows(ranks: Ranks, review: Review, estimate: ReviewEstimate, size: int) -> tuple[np.ndarray, float]:
    """The ``size`` highest-ranked unreviewed rows (indices, highest first) and the wrong pairs expected among them:
    what reviewing on down the ranking would find."""
    order = ranks.ordering
    candidates = np.flatnonzero(~review.reviewed)
    chosen = candidates[np.argsort(-order[candidates], kind="stable")[:size]]
    if chosen.size == 0:
        return chosen, 0.0
    return chosen, unreviewed_wrong_rate(ranks, review, estimate, float(order[chosen].min())) * chosen.size
