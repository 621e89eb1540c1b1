"""Sweep settings with error bars: jobs that differ only in seed are one setting with a t-interval."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from clipmem.reporting.sweep import JobRecord
from clipmem.reporting.sweep_settings import (
    Interval,
    difference_rows,
    differences_markdown,
    group_settings,
    paired_differences,
    setting_rows,
    settings_markdown,
)


def _job(num: int, sigma: str, seed: str, raw: float, state: str = "complete") -> JobRecord:
    metrics = {"clipmem_raw_mean": raw, "clipmem_mean": raw + 1, "linear_probe_top1_f": 0.5}
    return JobRecord(job=str(num), path=Path(str(num)), overrides={"mitigation.sigma": sigma, "seed": seed},
                     state=state, metrics=metrics if state == "complete" else {})


def test_interval_is_the_t_interval_and_undefined_for_one_value():
    interval = Interval.of([1.0, 2.0, 3.0])
    assert interval.mean == 2.0 and interval.n == 3
    assert interval.high - interval.mean == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-5)  # t(0.975, 2)
    assert interval.excludes(-1.0) and not interval.excludes(0.0)  # 2 ± 2.48
    single = Interval.of([4.0])
    assert single.mean == 4.0 and math.isnan(single.low) and not single.excludes(0.0)


def test_jobs_differing_only_in_seed_form_one_setting():
    records = [_job(0, "0", "0", 0.10), _job(1, "0", "1", 0.12), _job(2, "0", "2", 0.14),
               _job(3, "0.1", "0", 0.20), _job(4, "0.1", "1", 0.22), _job(5, "0.1", "2", 0.0, state="failed")]
    settings = group_settings(records, ["mitigation.sigma", "seed"])
    assert [(s.label, s.jobs) for s in settings] == [("mitigation.sigma=0", ["0", "1", "2"]),
                                                     ("mitigation.sigma=0.1", ["3", "4"])]  # failed job left out
    first = settings[0].metrics["clipmem_raw_mean"]
    assert first.mean == pytest.approx(0.12) and first.n == 3 and first.low < 0.12 < first.high
    columns, rows = setting_rows(settings)
    assert columns[:3] == ["setting", "n_seeds", "jobs"] and "clipmem_raw_mean_low" in columns
    assert rows[1]["n_seeds"] == 2 and rows[1]["clipmem_raw_mean"] == pytest.approx(0.21)
    table = settings_markdown(settings)
    assert "| mitigation.sigma=0 | 3 | 0.120 [" in table and "50.0 [50.0, 50.0]" in table


def test_paradigm_aucs_and_unitmem_layers_are_summarised_over_seeds():
    def job(num: int, shift: float) -> JobRecord:
        metrics = {"ssl_atypical_auc": 0.6 + shift, "clip_mislabel_auc": 0.9 + shift,
                   **{f"clip_unitmem_image_layer{k}": 0.5 + k / 100 + shift for k in (1, 2, 10)},
                   "supervised_unitmem_image_layer1": 0.7 + shift}
        return JobRecord(job=str(num), path=Path(str(num)), overrides={"seed": str(num)}, state="complete",
                         metrics=metrics)

    (setting,) = group_settings([job(0, 0.0), job(1, 0.01), job(2, 0.02)], ["seed"])
    columns, rows = setting_rows([setting])
    metrics = [c for c in columns[3:] if not c.endswith(("_low", "_high"))]
    assert metrics == ["clip_mislabel_auc", "ssl_atypical_auc", "clip_unitmem_image_layer1",
                       "clip_unitmem_image_layer2", "clip_unitmem_image_layer10", "supervised_unitmem_image_layer1"]
    assert rows[0]["clip_unitmem_image_layer10"] == pytest.approx(0.61)
    assert "| all | 3 | 0.910 [" in settings_markdown([setting])  # AUCs as scores, not as percentages


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
    assert delta.mean == pytest.approx(0.02) and delta.excludes(0.0) and delta.high - delta.low < 1e-9
    assert partial.seeds == ["0", "1"]  # seed 3 has no partner in the reference
    assert partial.metrics["clipmem_raw_mean"].mean == pytest.approx(0.025)
    table = differences_markdown([first, partial])
    assert "| mitigation.sigma=0.1 | 3 | **0.020 [0.020, 0.020]**" in table
    columns, rows = difference_rows([first, partial])
    assert columns[:4] == ["setting", "reference", "n_paired_seeds", "delta_clipmem_raw_mean"]
    assert rows[0]["delta_clipmem_raw_mean"] == pytest.approx(0.02) and rows[1]["n_paired_seeds"] == 2
    assert paired_differences(settings[:1]) == []
    no_seeds = group_settings([_job(0, "0", "", 0.1), _job(1, "0", "", 0.2), _job(2, "0.1", "", 0.3)],
                              ["mitigation.sigma"])
    assert [d.metrics for d in paired_differences(no_seeds)] == [{}]  # two jobs without a seed: nothing to pair
