"""How many pairs are wrong, from a curator's review of the top of the audit's ranking (pure: no files).

Without a review the number of wrong pairs is not identified: correct pairs the models cannot predict rank exactly
like wrong ones (docs/audit.md, "How many are wrong"). A review identifies it. The review covers

* every row at or above the rank ``t_top`` (the top of audit.csv: w_top wrong found there), and
* optionally a random sample of m of the N_b rows between the lowest reviewed rank t and ``t_top`` (w found).

The wrong pairs ranked at or above t are then counted by design, without a model: A = w_top + w · N_b / m. Below
t nothing was reviewed; there the audit's null fills in: wrong captions rank uniformly, so a share s ≈ 1 − t of
all K wrong pairs lies at or above t, whatever the correct pairs do, and K̂ = A / s (s exactly: ``Ranks.null_share``).
The interval is the posterior of K under a Jeffreys prior on the sampled share and a flat prior on K
(A ~ Binomial(K, s)), drawn by Monte Carlo. A review that reaches the bottom (a random sample of every row below the
top) leans on no model; one of the top alone leans on the uniform null, and a set whose wrong captions rank unlike
uniform (docs/audit.md) moves its count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from clipmem.audit.mixture import local_probability

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

    rows: N audited; reviewed: rows reviewed; found: wrong among them; top: the rank (audit.csv's rank statistic) down
    to which every row was reviewed (NaN when the highest-ranked row was not: then ``sampled`` holds every reviewed
    row); lowest: the lowest reviewed rank t; sampled / between: the rows reviewed / there are between t and
    ``top``; above: A, the wrong pairs ranked at or above t (counted by design); share: the share of all wrong pairs
    ranked there under the uniform null (about 1 − t); estimated_wrong: K̂ = A / share; low, high: its interval at
    ``level``; sample_p: a Kolmogorov–Smirnov p-value that the rows reviewed below the top are a random sample of
    the rows there (1.0 when there are none).
    """

    rows: int
    reviewed: int
    found: int
    top: float
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

    def metrics(self) -> dict[str, float | int | bool]:
        """metrics.json's ``audit_review_*`` keys."""
        return {"audit_review_rows": self.reviewed, "audit_review_wrong": self.found, "audit_review_top": self.top,
                "audit_review_lowest": self.lowest, "audit_review_sampled": self.sampled,
                "audit_review_between": self.between, "audit_review_wrong_above": self.above,
                "audit_review_share": self.share,
                "audit_review_estimated_wrong": self.estimated_wrong, "audit_review_estimated_wrong_low": self.low,
                "audit_review_estimated_wrong_high": self.high, "audit_review_level": self.level,
                "audit_review_remaining_wrong": self.remaining, "audit_review_extrapolated": self.extrapolated,
                "audit_review_sample_p": self.sample_p, "audit_review_random_sample": self.random_sample}


@dataclass(frozen=True)
class Ranks:
    """Every audited row's rank p-value ``p`` (N,) in (0, 1] (audit.csv's rank statistic: 1 the least predicted) and
    ``steps`` (N,), the number of values it can take (2n − 1 for ``rank_joint`` in a block of n, n for the others);
    None: continuous ranks."""

    p: np.ndarray
    steps: np.ndarray | None = None

    def null_share(self, threshold: float) -> float:
        """The chance that a wrong pair, ranked uniformly on its row's grid {1/J, …, 1}, ranks at or above
        ``threshold``, averaged over the rows (1 − threshold for continuous ranks)."""
        if self.steps is None:
            return float(min(1.0, max(0.0, 1 - threshold)))
        steps = np.asarray(self.steps, dtype=np.float64)
        at_or_above = steps - np.ceil(threshold * steps - 1e-9) + 1
        return float(np.clip(at_or_above / steps, 0.0, 1.0).mean())


def top_threshold(p: np.ndarray, reviewed: np.ndarray) -> float:
    """The lowest rank t_top such that every row ranked at or above it was reviewed (above 1 when the highest-ranked
    row was not): how far down the top of audit.csv the review reached without a gap. Tied rows count together."""
    unreviewed = p[~reviewed]
    ceiling = float(unreviewed.max()) if unreviewed.size else -np.inf
    above = p[reviewed & (p > ceiling)]
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
    p = np.asarray(ranks.p, dtype=np.float64)
    reviewed, found = review.reviewed.astype(bool), review.found.astype(bool)
    if not reviewed.any():
        raise ValueError("the review has no reviewed row")
    top, lowest = top_threshold(p, reviewed), float(p[reviewed].min())
    below_top = (p >= lowest) & (p < top)
    counts = ReviewCounts(
        top_found=int((found & (p >= top)).sum()), sample_found=int((found & below_top).sum()),
        sampled=int((reviewed & below_top).sum()), between=int(below_top.sum()),
        share=max(ranks.null_share(lowest), 1e-12), most=len(p) - int((reviewed & ~found).sum()))
    above = counts.top_found + (counts.sample_found * counts.between / counts.sampled if counts.sampled else 0.0)
    low, high = count_interval(counts, level)
    return ReviewEstimate(
        rows=len(p), reviewed=int(reviewed.sum()), found=int(found.sum()), lowest=lowest,
        top=top if np.isfinite(top) else float("nan"),
        sampled=counts.sampled, between=counts.between, above=above, share=counts.share,
        estimated_wrong=min(float(counts.most), above / counts.share), low=low, high=high, level=level,
        sample_p=sample_check(p[reviewed & below_top], p[~reviewed & below_top]))


def sample_check(sampled: np.ndarray, rest: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov p-value that the reviewed ranks ``sampled`` and the unreviewed ``rest`` (between
    the lowest reviewed rank and the fully reviewed top) come from one distribution; 1.0 when either is empty."""
    if sampled.size == 0 or rest.size == 0:
        return 1.0
    return float(stats.ks_2samp(sampled, rest).pvalue)


def reviewed_probability(u: np.ndarray, review: Review, wrong_fraction: float) -> np.ndarray:
    """(N,) probability of a wrong caption: the verdict (1 or 0) where reviewed, else the uniform share of the
    density of the audit's mid-ranks ``u`` at u (``local_probability``) at the reviewed share of wrong pairs."""
    probability = local_probability(u, wrong_fraction)
    return np.where(review.reviewed, review.wrong.astype(np.float64), probability)


def expected_unreviewed_wrong(ranks: Ranks, review: Review, estimate: ReviewEstimate, lowest: float) -> float:
    """Expected wrong pairs among the unreviewed rows ranked at or above ``lowest``: K̂ · null share of the wrong
    pairs rank there, less those the review found there (at least 0). For the rows just below the reviewed top this
    is what the next batch of review would find."""
    found_there = int((review.found & (ranks.p >= lowest)).sum())
    return max(0.0, estimate.estimated_wrong * ranks.null_share(lowest) - found_there)


def next_rows(ranks: Ranks, review: Review, estimate: ReviewEstimate, size: int) -> tuple[np.ndarray, float]:
    """The ``size`` highest-ranked unreviewed rows (indices, highest first) and the wrong pairs expected among them:
    what reviewing on down the ranking would find."""
    p = ranks.p
    candidates = np.flatnonzero(~review.reviewed)
    chosen = candidates[np.argsort(-p[candidates], kind="stable")[:size]]
    if chosen.size == 0:
        return chosen, 0.0
    lowest = float(p[chosen].min())
    above = expected_unreviewed_wrong(ranks, review, estimate, lowest)
    there = int(((p >= lowest) & ~review.reviewed).sum())
    return chosen, above * chosen.size / max(there, 1)  # rows tied at the lowest rank share its expectation
