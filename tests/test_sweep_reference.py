"""A sweep against a setting of another, finished sweep: paired by seed, with what else differs named."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from clipmem.config.schema import EvaluateConfig
from clipmem.errors import ConfigError
from clipmem.reporting.sweep import aggregate_sweep
from clipmem.reporting.sweep_reference import SweepReference
from clipmem.run import evaluate_entry
from clipmem.rundir import RunDir

from .conftest import run_script


def _job(sweep: Path, num: int, overrides: dict[str, str], metrics: dict[str, float]) -> None:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"{k}={v}" for k, v in overrides.items()]))
    (job / "metrics.json").write_text(json.dumps(metrics))
    RunDir(job).write_status("complete")


@pytest.fixture
def sweeps(tmp_path: Path) -> tuple[Path, Path]:
    """A noise sweep (sigma 0 and 0.15, seeds 0-2) and a removal sweep (two rankings, seeds 0-2): the removal runs
    lose 0.05 + 0.01 * seed of raw CLIPMem against sigma=0 of the same seed, random removal 0.01 + 0.01 * seed."""
    noise, removal = tmp_path / "noise", tmp_path / "removal"
    base = {"0": 0.40, "1": 0.50, "2": 0.45}
    num = 0
    for seed, raw in base.items():
        for sigma, shift in (("0", 0.0), ("0.15", -0.2)):
            _job(noise, num, {"mitigation": "text_noise", "seed": seed, "mitigation.sigma": sigma,
                              "data.split_seed": "0"}, {"clipmem_raw_mean": raw + shift, "linear_probe_top1_f": 0.5})
            num += 1
    num = 0
    for seed, raw in base.items():
        for ranking, loss in (("clipmem", 0.05), ("random", 0.01)):
            _job(removal, num, {"mitigation": "remove_topk", "mitigation.ranking": ranking, "seed": seed,
                                "data.split_seed": "0"},
                 {"clipmem_raw_mean": raw - loss - 0.01 * int(seed), "linear_probe_top1_f": 0.5})
            num += 1
    return noise, removal


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_each_setting_is_paired_by_seed_with_the_named_reference(sweeps):
    noise, removal = sweeps
    report = aggregate_sweep(removal, reference=SweepReference(noise, "mitigation.sigma=0"))
    assert removal / "sweep_differences_vs_reference.md" in report.tables
    rows = _rows(removal / "sweep_differences_vs_reference.csv")
    assert [r["setting"] for r in rows] == ["mitigation.ranking=clipmem", "mitigation.ranking=random"]
    assert {r["reference"] for r in rows} == {"reference: mitigation.sigma=0"}
    assert [float(r["delta_clipmem_raw_mean"]) for r in rows] == pytest.approx([-0.06, -0.02])
    assert rows[0]["n_paired_seeds"] == "3"
    markdown = (removal / "sweep_differences_vs_reference.md").read_text()
    assert f"of {noise}" in markdown
    # what else differs between the two sweeps' jobs is named; the shared split is not
    assert "| `mitigation` | `remove_topk` | `text_noise` |" in markdown
    assert "| `mitigation.sigma` | `–` | `0` |" in markdown and "data.split_seed" not in markdown
    # the sweep's own table still compares against its own first setting
    own = _rows(removal / "sweep_differences.csv")
    assert [r["reference"] for r in own] == ["mitigation.ranking=clipmem"]


def test_the_first_setting_is_the_default_and_an_unknown_label_lists_the_settings(sweeps):
    noise, removal = sweeps
    aggregate_sweep(removal, reference=SweepReference(noise))
    rows = _rows(removal / "sweep_differences_vs_reference.csv")
    assert {r["reference"] for r in rows} == {"reference: mitigation.sigma=0"}
    with pytest.raises(ConfigError, match=r"'mitigation.sigma=0.3' is no setting .*'mitigation.sigma=0.15'"):
        aggregate_sweep(removal, reference=SweepReference(noise, "mitigation.sigma=0.3"))
    for job in ("1", "3", "5"):  # one ranking left: a sweep of one setting, over seeds only
        shutil.rmtree(removal / job)
    aggregate_sweep(removal, reference=SweepReference(noise))
    assert [r["setting"] for r in _rows(removal / "sweep_differences_vs_reference.csv")] == ["this sweep"]


def test_evaluate_reads_reference_keys_and_refuses_them_without_a_sweep(sweeps):
    noise, removal = sweeps
    with pytest.raises(ConfigError, match="apply to sweep_dir"):
        evaluate_entry(EvaluateConfig(run_dir=str(removal / "0"), reference=str(noise)))
    with pytest.raises(ConfigError, match="reference_setting= needs reference="):
        evaluate_entry(EvaluateConfig(sweep_dir=str(removal), reference_setting="mitigation.sigma=0"))
    done = run_script("evaluate.py", f"sweep_dir={removal}", f"reference={noise}",
                      "reference_setting='mitigation.sigma=0.15'")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sweep_differences_vs_reference.md" in done.stdout
    rows = _rows(removal / "sweep_differences_vs_reference.csv")
    assert [float(r["delta_clipmem_raw_mean"]) for r in rows] == pytest.approx([0.14, 0.18])
