"""A sweep's settings with error bars: jobs that differ only in ``seed`` form one setting, and each metric
gets its mean over the seeds with a 95 % t-interval (docs/sweeps.md, "Settings with error bars")."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scipy import stats as scipy_stats

if TYPE_CHECKING:
    from clipmem.reporting.sweep import JobRecord

SEED_KEYS = ("seed",)
SETTING_METRICS = (  # raw beside normalised: a min–max mean moves with each run's two extremes
    "clipmem_raw_mean", "clipmem_raw_median", "clipmem_mean", "clipmem_median", "miscaption_auc",
    "clipmem_raw_mean_miscaptioned", "clipmem_raw_mean_clean",
    "zeroshot_top1_f", "zeroshot_top1_g", "linear_probe_top1_f", "linear_probe_top1_g",
    "zeroshot_top1_mean", "linear_probe_top1_mean", "num_removed_miscaptioned_candidate",
    *(f"{family}_{group}_auc" for family in ("clip", "supervised", "ssl") for group in ("mislabel", "atypical")),
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
        settings.append(setting)
    return settings


def _present(settings: list[Setting]) -> list[str]:
    """The metrics some setting has: those of ``SETTING_METRICS`` in its order, then the per-layer ones."""
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
