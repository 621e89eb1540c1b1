"""benchmarks/audit_recount.py: the paired comparison of the count among familiar pairs with the mixture and
with the count among familiar captions (the region before)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import audit_recount  # noqa: E402
import audit_recount_stats  # noqa: E402


def row(data: str, ratio: float, mixture: float, errs: tuple[float, ...], caption: tuple[float, float] = (1.0, 0.1)
        ) -> dict:
    """errs: the precision errors of the audit's flags, the mixture's and (third, default 0.2) the unweighted ones;
    caption: the count among familiar captions (the region before) as a ratio to the injected count, and the
    precision error of its flags."""
    unweighted = errs[2] if len(errs) > 2 else 0.2
    return {"data": data, "ratio": ratio, "mixture_ratio": mixture, "caption_region_ratio": caption[0],
            "caption_region_predicted_precision": 0.7, "caption_region_measured_precision": 0.7 + caption[1],
            "predicted_precision": 0.8,
            "measured_precision": 0.8 - errs[0], "mixture_predicted_precision": 1.0,
            "mixture_measured_precision": 1.0 - errs[1], "unweighted_predicted_precision": 0.9,
            "unweighted_measured_precision": 0.9 + unweighted, "flag_recall": 0.4, "unweighted_flag_recall": 0.3}


def test_runs_where_the_count_errs_less_give_a_negative_interval_and_a_zero_mixture_count_is_left_out():
    rows = [row("tux", 1.1, 2.0, (0.1, 0.4)), row("tux", 0.9, 1.8, (0.05, 0.5)), row("tux", 1.2, 2.2, (0.2, 0.45)),
            row("emoji", 1.3, 0.0, (0.1, 0.3)), row("emoji", 1.0, 1.9, (0.0, 0.3)), row("emoji", 1.4, 1.7, (0.3, 0.2))]
    table = {r["data"]: r for r in audit_recount.paired(rows)}
    tux = table["tux"]
    expected = sum(abs(math.log(r)) - abs(math.log(m)) for r, m in ((1.1, 2.0), (0.9, 1.8), (1.2, 2.2))) / 3
    assert math.isclose(tux["count_error_difference"], round(expected, 3), abs_tol=1e-3)
    assert tux["count_error_difference_high"] < 0 and tux["precision_error_difference_high"] < 0
    assert table["emoji"]["count_error_difference_left_out"] == 1  # the mixture's 0: an infinite error
    assert table["all"]["runs"] == 6 and table["all"]["count_error_difference_left_out"] == 1


def test_the_weights_paired_difference_is_each_run_s_weighted_minus_unweighted_precision_error():
    rows = [row("tux", 1.0, 1.0, (0.02, 0.1, 0.3)), row("tux", 1.0, 1.0, (0.05, 0.1, 0.2)),
            row("tux", 1.0, 1.0, (0.30, 0.1, 0.1))]
    tux = {r["data"]: r for r in audit_recount.paired(rows)}["tux"]
    assert math.isclose(tux["weights_precision_error_difference"], round(((0.02 - 0.3) + (0.05 - 0.2) + 0.2) / 3, 3),
                        abs_tol=1e-3)
    assert tux["weights_precision_error_difference_low"] < tux["weights_precision_error_difference"] < \
        tux["weights_precision_error_difference_high"]


def test_the_region_paired_difference_is_each_run_s_error_minus_the_caption_region_s():
    rows = [row("emoji", 1.1, 1.0, (0.02, 0.1), (1.5, 0.2)), row("emoji", 0.9, 1.0, (0.05, 0.1), (1.4, 0.15)),
            row("emoji", 1.2, 1.0, (0.1, 0.1), (1.6, 0.25))]
    emoji = {r["data"]: r for r in audit_recount.paired(rows)}["emoji"]
    expected = sum(abs(math.log(r)) - abs(math.log(c)) for r, c in ((1.1, 1.5), (0.9, 1.4), (1.2, 1.6))) / 3
    assert math.isclose(emoji["region_count_error_difference"], round(expected, 3), abs_tol=1e-3)
    assert emoji["region_count_error_difference_high"] < 0
    assert math.isclose(emoji["region_precision_error_difference"], round(-(0.18 + 0.10 + 0.15) / 3, 3),
                        abs_tol=1e-3)


def test_an_exact_prediction_of_many_flags_lands_within_0_10_more_surely_than_of_few():
    few, many = audit_recount.precision_noise(0.75, 20), audit_recount.precision_noise(0.75, 400)
    assert math.isclose(few["precision_sd"], round(math.sqrt(0.75 * 0.25 / 20), 3))
    assert 0.6 < few["exact_within_0.10"] < 0.9 < many["exact_within_0.10"] <= 1.0
    assert audit_recount.precision_noise(0.75, 0) == {"precision_sd": None, "exact_within_0.10": None}


def test_the_bias_is_the_signed_mean_ratio_and_precision_error_over_runs():
    rows = [row("emoji", 1.25, 1.0, (-0.10, 0.1)), row("emoji", 1.35, 1.0, (-0.12, 0.1)),
            row("emoji", 1.3, 1.0, (-0.08, 0.1))]  # measured = 0.8 − err: predicted below measured in every run
    emoji = {r["data"]: r for r in audit_recount.paired(rows)}["emoji"]
    assert math.isclose(emoji["count_ratio"], (1.25 * 1.35 * 1.3) ** (1 / 3), abs_tol=1e-3)  # geometric mean
    assert emoji["count_ratio_low"] > 1.0
    assert math.isclose(emoji["precision_bias"], -0.10) and emoji["precision_bias_high"] < 0
    wide = {r["data"]: r for r in audit_recount.paired([row("tux", x, 1.0, (0.0, 0.1)) for x in (0.42, 1.41, 1.19)])}
    assert 0 < wide["tux"]["count_ratio_low"] < 0.42 and wide["tux"]["count_ratio_high"] > 1.41  # stays above 0


def test_an_interval_of_differences_of_shares_stays_inside_minus_one_to_one():
    rows = [row("oca", 1.0, 1.0, (e, 0.1)) for e in (0.8, -0.2, 0.75)]  # predicted 0.8: measured 0.0, 1.0, 0.05
    bias = {r["data"]: r for r in audit_recount.paired(rows)}["oca"]
    assert bias["precision_bias"] == 0.45 and bias["precision_bias_high"] == 1  # the t-interval's end is 1.84
    wide = audit_recount_stats.interval("x", [0.9, -0.9, 0.95], bound=1)
    assert wide["x_low"] == -1 and wide["x_high"] == 1 and wide["x"] == round((0.9 - 0.9 + 0.95) / 3, 3)
