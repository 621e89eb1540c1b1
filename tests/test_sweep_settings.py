"""Sweep settings with error bars: jobs that differ only in seed are one setting with a t-interval."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from clipmem.reporting.intervals import Interval, holm
from clipmem.reporting.sweep_jobs import JobRecord
from clipmem.reporting.sweep_settings import (
    difference_rows,
    differences_markdown,
    group_settings,
    metric_names,
    paired_differences,
    setting_rows,
    settings_markdown,
)


def _cells(table: str) -> list[list[str]]:
    """The stripped cells of every row of a Markdown table in ``table`` (header first, the rule left out)."""
    rows = [line for line in table.splitlines() if line.startswith("|") and not set(line) <= set("|-: ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in rows]


def _job(num: int, sigma: str, seed: str, raw: float, state: str = "complete") -> JobRecord:
    metrics = {"clipmem_raw_mean": raw, "clipmem_mean": raw + 1, "linear_probe_top1_f": 0.5}
    return JobRecord(job=str(num), path=Path(str(num)), overrides={"mitigation.sigma": sigma, "seed": seed},
                     state=state, metrics=metrics if state == "complete" else {})


def test_interval_is_the_t_interval_and_undefined_for_one_value():
    interval = Interval.of([1.0, 2.0, 3.0])
    assert interval.mean == 2.0 and interval.n == 3
    assert interval.high - interval.mean == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-5)  # t(0.975, 2)
    assert interval.excludes(-1.0) and not interval.excludes(0.0)  # 2 ± 2.48
    assert interval.p_value == pytest.approx(0.0742, abs=1e-4)  # t = 2 / (1/√3) = 3.46 on 2 df
    single = Interval.of([4.0])
    assert single.mean == 4.0 and math.isnan(single.low) and not single.excludes(0.0)


def test_proportions_stay_in_zero_one_and_counts_get_exact_poisson_intervals():
    """The AUCs 0.872 [0.730, 1.013] of an earlier results table: on the logit scale the upper end stays below 1."""
    auc = Interval.of([0.80, 0.93, 0.886], kind="proportion")
    assert 0.0 < auc.low < auc.mean < auc.high < 1.0
    counts = Interval.of([0.0, 1.0, 1.0], kind="count")  # two removed mis-captions over three seeds
    assert counts.low >= 0.0 and counts.mean == pytest.approx(2 / 3)
    assert counts.high == pytest.approx(7.224687 / 3, rel=1e-5)  # Garwood: chi2(0.975, 6) / 2 = 7.2247
    same = Interval.of([-0.0067, -0.0067, -0.0067])
    assert same.high == same.low and not same.excludes(0.0)  # zero width: the seeds agree, nothing is claimed


def test_holm_rejects_step_down():
    assert holm([0.01, 0.04, 0.03, float("nan")]) == [True, False, False, False]  # 0.01 < .05/3; 0.03 > .05/2
    assert holm([0.001, 0.012, 0.04]) == [True, True, True]


def test_jobs_differing_only_in_seed_form_one_setting():
    records = [_job(0, "0", "0", 0.10), _job(1, "0", "1", 0.12), _job(2, "0", "2", 0.14),
               _job(3, "0.1", "0", 0.20), _job(4, "0.1", "1", 0.22), _job(5, "0.1", "2", 0.0, state="failed")]
    settings = group_settings(records, ["mitigation.sigma", "seed"])
    assert [(s.label, s.jobs) for s in settings] == [("mitigation.sigma=0", ["0", "1", "2"]),
                                                     ("mitigation.sigma=0.1", ["3", "4"])]  # failed job left out
    first = settings[0].metrics["clipmem_raw_mean"]
    assert first.mean == pytest.approx(0.12) and first.n == 3 and first.low < 0.12 < first.high
    columns, rows = setting_rows(settings)
    assert columns[:4] == ["setting", "n_seeds", "n_splits", "jobs"] and "clipmem_raw_mean_low" in columns
    assert rows[1]["n_seeds"] == 2 and rows[1]["clipmem_raw_mean"] == pytest.approx(0.21)
    table = settings_markdown(settings)
    assert _cells(table)[1][:4] == ["mitigation.sigma=0", "3", "3", "0.120 [0.070, 0.170]"]
    assert "50.0 [50.0, 50.0]" in table
    assert "linear_probe_top1_f (%)" in table
    header, rule = table.splitlines()[2:4]
    assert header.count("|") == rule.count("|")  # a well-formed table


def test_paradigm_aucs_and_unitmem_layers_are_summarised_over_seeds():
    def job(num: int, shift: float) -> JobRecord:
        metrics = {"families": ["clip", "ssl", "supervised"], "ssl_atypical_auc": 0.6 + shift,
                   "clip_mislabel_auc": 0.9 + shift,
                   **{f"clip_unitmem_image_layer{k}": 0.5 + k / 100 + shift for k in (1, 2, 10)},
                   "supervised_unitmem_image_layer1": 0.7 + shift}
        return JobRecord(job=str(num), path=Path(str(num)), overrides={"seed": str(num)}, state="complete",
                         metrics=metrics)

    (setting,) = group_settings([job(0, 0.0), job(1, 0.01), job(2, 0.02)], ["seed"])
    columns, rows = setting_rows([setting])
    metrics = [c for c in columns[4:] if not c.endswith(("_low", "_high"))]
    assert metrics == ["clip_mislabel_auc", "ssl_atypical_auc", "clip_unitmem_image_layer1",
                       "clip_unitmem_image_layer2", "clip_unitmem_image_layer10", "supervised_unitmem_image_layer1"]
    assert rows[0]["clip_unitmem_image_layer10"] == pytest.approx(0.61)
    assert _cells(settings_markdown([setting]))[1][3].startswith("0.910 [")  # AUCs as scores, not percentages


def test_differences_are_paired_by_seed_against_the_first_setting():
    # the seed moves both settings by the same amount; the setting adds 0.02: paired, the difference is exact
    records = [_job(0, "0", "0", 0.10), _job(1, "0", "1", 0.20), _job(2, "0", "2", 0.30),
               _job(3, "0.1", "0", 0.12), _job(4, "0.1", "1", 0.22), _job(5, "0.1", "2", 0.32),
               _job(6, "0.2", "0", 0.10), _job(7, "0.2", "1", 0.25), _job(8, "0.2", "3", 0.30)]
    settings = group_settings(records, ["mitigation.sigma", "seed"])
    assert not settings[0].metrics["clipmem_raw_mean"].excludes(0.22)  # unpaired, the seeds' spread hides it
    first, partial = paired_differences(settings)
    delta = first.metrics["clipmem_raw_mean"]
    assert first.reference == "mitigation.sigma=0" and first.seeds == ["0", "1", "2"]
    assert delta.mean == pytest.approx(0.02) and not delta.excludes(0.0) and delta.high - delta.low < 1e-9
    assert partial.seeds == ["0", "1"]  # seed 3 has no partner in the reference
    assert partial.metrics["clipmem_raw_mean"].mean == pytest.approx(0.025)
    table = differences_markdown([first, partial])
    assert "0.0200 [0.0200, 0.0200]" in table and "**0.0200" not in table  # equal in every seed: no claim
    columns, rows = difference_rows([first, partial])
    assert columns[:4] == ["setting", "reference", "n_paired_seeds", "delta_clipmem_raw_mean"]
    assert rows[0]["delta_clipmem_raw_mean"] == pytest.approx(0.02) and rows[1]["n_paired_seeds"] == 2
    assert paired_differences(settings[:1]) == []
    no_seeds = group_settings([_job(0, "0", "", 0.1), _job(1, "0", "", 0.2), _job(2, "0.1", "", 0.3)],
                              ["mitigation.sigma"])
    unpaired = paired_differences(no_seeds)
    assert [d.metrics for d in unpaired] == [{}]  # two jobs without a seed: nothing to pair
    assert "pairing needs the jobs of each setting to differ in `seed`" in differences_markdown(unpaired)


def test_a_difference_is_bold_only_when_it_survives_holm():
    records = [_job(0, "0", "0", 0.100), _job(1, "0", "1", 0.200), _job(2, "0", "2", 0.300), _job(3, "0", "3", 0.4),
               _job(4, "0.1", "0", 0.121), _job(5, "0.1", "1", 0.219), _job(6, "0.1", "2", 0.322),
               _job(7, "0.1", "3", 0.418),  # +0.02 with a little spread: clear
               _job(8, "0.2", "0", 0.110), _job(9, "0.2", "1", 0.190), _job(10, "0.2", "2", 0.330),
               _job(11, "0.2", "3", 0.395)]  # +0.006 with a lot of spread: not
    differences = paired_differences(group_settings(records, ["mitigation.sigma", "seed"]))
    table = differences_markdown(differences)
    clear, unclear = (line for line in table.splitlines() if line.startswith("| mitigation"))
    assert "**0.020" in clear and "**" not in unclear and "Holm" in table


def test_further_zero_shot_sets_and_retrieval_get_columns_and_the_headline_set_does_not():
    records = [_job(i, "0", str(i), 0.1 * i) for i in range(3)]
    for i, record in enumerate(records):
        record.metrics.update({"linear_probe_top1_g": 0.4, "linear_probe_synthetic_top1_f": 0.5,
                               "linear_probe_synthetic_top1_g": 0.4, "linear_probe_heldout_top1_f": 0.6 + i / 100,
                               "linear_probe_heldout_top1_g": 0.55, "retrieval_i2t_r5_f": 0.3})
    names = metric_names(records)
    assert "linear_probe_heldout_top1_f" in names and "linear_probe_heldout_top1_g" in names
    assert "linear_probe_synthetic_top1_f" not in names  # equal to the headline in every job: the headline
    assert "retrieval_i2t_r5_f" in names and "retrieval_t2i_r5_f" not in names  # only what the jobs have
    setting = group_settings(records, ["seed"])[0]
    assert setting.metrics["linear_probe_heldout_top1_f"].mean == pytest.approx(0.61)
    assert "linear_probe_heldout_top1_f (%)" in settings_markdown([setting])
