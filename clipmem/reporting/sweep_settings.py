"""A sweep's settings with error bars: jobs that differ only in ``seed`` form one setting, and each metric
gets its mean over the seeds with a 95 % t-interval (docs/sweeps.md, "Settings with error bars")."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scipy import stats as scipy_stats

if TYPE_CHECKING:
    from clipmem.reporting.sweep import JobRecord

SEED_KEYS = ("seed",)
FAMILY_AUCS = tuple(f"{family}_{group}_auc" for family in ("clip", "supervised", "ssl")  # experiment=paradigms
                    for group in ("mislabel", "atypical"))
SETTING_METRICS = (  # raw beside normalised: a min–max mean moves with each run's two extremes
    "clipmem_raw_mean", "clipmem_raw_median", "clipmem_mean", "clipmem_median", "miscaption_auc",
    "clipmem_raw_mean_miscaptioned", "clipmem_raw_mean_clean",
    "zeroshot_top1_f", "zeroshot_top1_g", "linear_probe_top1_f", "linear_probe_top1_g",
    "zeroshot_top1_mean", "linear_probe_top1_mean", "num_removed_miscaptioned_candidate",
    *FAMILY_AUCS,
)
UNITMEM_INFIX = "_unitmem_"  # experiment=paradigms: <family>_unitmem_<tower>_layer<k>, one per layer


def metric_names(records: list[JobRecord]) -> list[str]:
    """``SETTING_METRICS`` and every per-layer UnitMem metric the jobs hold (family, tower, then layer order)."""
    layers = {k for r in records for k in r.metrics if UNITMEM_INFIX in k and k.rsplit("_layer", 1)[-1].isdigit()}
    ordered = sorted(layers, key=lambda k: (k.rsplit("_layer", 1)[0], int(k.rsplit("_layer", 1)[1])))
    return [*SETTING_METRICS, *ordered]


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values and its ``level`` t-interval (NaN bounds for n < 2)."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: list[float], level: float = 0.95) -> Interval:
        n = len(values)
        mean = statistics.fmean(values)
        if n < 2:
            return cls(mean, math.nan, math.nan, n)
        half = float(scipy_stats.t.ppf(0.5 + level / 2, n - 1)) * statistics.stdev(values) / math.sqrt(n)
        return cls(mean, mean - half, mean + half, n)

    def excludes(self, value: float) -> bool:
        """True when the interval lies wholly above or below ``value``."""
        return self.low > value or self.high < value


@dataclass
class Setting:
    """The complete jobs of one setting (same overrides but ``seed``) and their metric intervals."""

    label: str
    overrides: dict[str, str]
    jobs: list[str] = field(default_factory=list)
    seeds: list[str] = field(default_factory=list)
    metrics: dict[str, Interval] = field(default_factory=dict)
    values: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> seed -> value


def setting_key(record: JobRecord, keys: list[str]) -> tuple[tuple[str, str], ...]:
    """The swept overrides of a job without its seed: equal keys = the same setting."""
    return tuple((k, record.overrides.get(k, "")) for k in keys if k not in SEED_KEYS)


def group_settings(records: list[JobRecord], keys: list[str]) -> list[Setting]:
    """Complete jobs grouped by setting (first-seen order), each metric summarised over the seeds."""
    groups: dict[tuple, list[JobRecord]] = {}
    for record in records:
        if record.state == "complete":
            groups.setdefault(setting_key(record, keys), []).append(record)
    settings = []
    for key, members in groups.items():
        label = " ".join(f"{k}={v}" for k, v in key) or "all"
        setting = Setting(label, dict(key), [r.job for r in members],
                          [r.overrides.get("seed", "") for r in members])
        for metric in metric_names(members):
            values = [float(r.metrics[metric]) for r in members if metric in r.metrics]
            if values and len(values) == len(members):
                setting.metrics[metric] = Interval.of(values)
                if "" not in setting.seeds and len(set(setting.seeds)) == len(setting.seeds):  # else unpairable
                    setting.values[metric] = dict(zip(setting.seeds, values, strict=True))
        settings.append(setting)
    return settings


def _present(settings: Sequence[Setting | Difference]) -> list[str]:
    """The metrics some setting (or difference) has: ``SETTING_METRICS`` in its order, then the per-layer ones."""
    seen = list(dict.fromkeys(m for s in settings for m in s.metrics))
    return [m for m in SETTING_METRICS if m in seen] + [m for m in seen if m not in SETTING_METRICS]


def setting_rows(settings: list[Setting]) -> tuple[list[str], list[dict[str, Any]]]:
    """The grouped table: setting, seeds, then mean / low / high of every metric some setting has."""
    metrics = _present(settings)
    columns = ["setting", "n_seeds", "jobs"]
    for metric in metrics:
        columns += [metric, f"{metric}_low", f"{metric}_high"]
    rows = []
    for setting in settings:
        row: dict[str, Any] = {"setting": setting.label, "n_seeds": len(setting.jobs), "jobs": " ".join(setting.jobs)}
        for metric, interval in setting.metrics.items():
            row.update({metric: interval.mean, f"{metric}_low": interval.low, f"{metric}_high": interval.high})
        rows.append(row)
    return columns, rows


def _cell(metric: str, interval: Interval | None) -> str:
    if interval is None:
        return "–"
    if metric.startswith("num_"):
        scale, digits = 1.0, 1
    elif metric.startswith(("zeroshot_", "linear_probe_")):
        scale, digits = 100.0, 1  # accuracies in %
    else:
        scale, digits = 1.0, 3  # scores, AUCs, UnitMem
    mean = f"{scale * interval.mean:.{digits}f}"
    if math.isnan(interval.low):
        return mean
    return f"{mean} [{scale * interval.low:.{digits}f}, {scale * interval.high:.{digits}f}]"


def settings_markdown(settings: list[Setting]) -> str:
    """Markdown: one row per setting, each metric as ``mean [95 % interval]`` (accuracies in %)."""
    metrics = _present(settings)
    lines = ["| setting | seeds | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 2)]
    for setting in settings:
        cells = [_cell(m, setting.metrics.get(m)) for m in metrics]
        lines.append(f"| {setting.label} | {len(setting.jobs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@dataclass
class Difference:
    """A setting against the sweep's reference setting (its first), paired by seed: per metric the mean of
    (setting − reference) over the seeds both have, with its t-interval."""

    label: str
    reference: str
    seeds: list[str]
    metrics: dict[str, Interval] = field(default_factory=dict)


def paired_differences(settings: list[Setting]) -> list[Difference]:
    """Every setting after the first against the first, paired on the seeds both have (the same seed draws the
    same initialisation in both, so the seed-to-seed spread they share cancels). An interval needs ≥ 2 common
    seeds; settings whose jobs do not each have their own seed are not paired."""
    if len(settings) < 2:
        return []
    reference = settings[0]
    out = []
    for setting in settings[1:]:
        difference = Difference(setting.label, reference.label, [])
        for metric, values in setting.values.items():
            base = reference.values.get(metric, {})
            seeds = [seed for seed in values if seed in base]
            if not seeds:
                continue
            difference.seeds = seeds
            difference.metrics[metric] = Interval.of([values[seed] - base[seed] for seed in seeds])
        out.append(difference)
    return out


def difference_rows(differences: list[Difference]) -> tuple[list[str], list[dict[str, Any]]]:
    """The paired table: setting, reference, paired seeds, then mean / low / high of every metric's difference."""
    metrics = _present(differences)
    columns = ["setting", "reference", "n_paired_seeds"]
    for metric in metrics:
        columns += [f"delta_{metric}", f"delta_{metric}_low", f"delta_{metric}_high"]
    rows = []
    for d in differences:
        row: dict[str, Any] = {"setting": d.label, "reference": d.reference, "n_paired_seeds": len(d.seeds)}
        for metric, interval in d.metrics.items():
            row.update({f"delta_{metric}": interval.mean, f"delta_{metric}_low": interval.low,
                        f"delta_{metric}_high": interval.high})
        rows.append(row)
    return columns, rows


def differences_markdown(differences: list[Difference]) -> str:
    """Markdown: one row per setting, each metric's paired difference from the reference as ``Δ [95 % interval]``,
    in bold where the interval excludes 0 (accuracies in percentage points)."""
    if not differences:
        return "One setting only: nothing to compare.\n"
    metrics = _present(differences)
    lines = [f"Paired by seed against `{differences[0].reference}`: mean difference [95 % t-interval]; **bold**: "
             "the interval excludes 0.", "",
             "| setting | paired seeds | " + " | ".join(f"Δ {m}" for m in metrics) + " |",
             "|" + "---|" * (len(metrics) + 2)]
    for d in differences:
        cells = []
        for metric in metrics:
            interval = d.metrics.get(metric)
            cell = _cell(metric, interval)
            cells.append(f"**{cell}**" if interval is not None and interval.excludes(0.0) else cell)
        lines.append(f"| {d.label} | {len(d.seeds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

