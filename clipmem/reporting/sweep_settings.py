"""A sweep's settings with error bars: jobs that differ only in ``seed`` form one setting, and each metric
gets its mean over the seeds with a 95 % interval on its own scale; settings are compared with the first paired by
seed, with Holm's correction across each table (docs/sweeps.md, "Settings with error bars")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from clipmem.reporting.intervals import Interval, holm, metric_kind
from clipmem.reporting.tables import decimals

if TYPE_CHECKING:
    from clipmem.reporting.sweep_jobs import JobRecord

SEED_KEYS = ("seed",)
SETTING_METRICS = (  # raw beside normalised: a min–max mean moves with each run's two extremes
    "clipmem_raw_mean", "clipmem_raw_median", "clipmem_mean", "clipmem_median", "miscaption_auc",
    "clipmem_raw_mean_miscaptioned", "clipmem_raw_mean_clean",
    "zeroshot_top1_f", "zeroshot_top1_g", "linear_probe_top1_f", "linear_probe_top1_g",
    "zeroshot_top1_mean", "linear_probe_top1_mean", "num_removed_miscaptioned_candidate",
)
FAMILY_AUC_SUFFIXES = ("_mislabel_auc", "_atypical_auc")  # experiment=paradigms: <family>_<ground truth>_auc
UNITMEM_INFIX = "_unitmem_"  # experiment=paradigms: <family>_unitmem_<tower>_layer<k>, one per layer
RETRIEVAL_METRICS = ("retrieval_i2t_r5_f", "retrieval_i2t_r5_g", "retrieval_t2i_r5_f", "retrieval_t2i_r5_g")


def extra_set_metrics(records: list[JobRecord]) -> list[str]:
    """Top-1 (zero-shot, linear probe; f and g) of every zero-shot set beyond the headline one (the headline's
    numbers are already ``zeroshot_top1_f`` and so on: a set whose numbers equal them in every job is skipped)."""
    out = []
    for kind in ("zeroshot", "linear_probe"):
        names = sorted({k for r in records for k in r.metrics if k.startswith(f"{kind}_") and k.endswith("_top1_f")})
        for name in names:
            set_name = name[len(kind) + 1:-len("_top1_f")]
            if not set_name:
                continue
            pair = [f"{kind}_{set_name}_top1_{model}" for model in ("f", "g")]
            headline = all(r.metrics.get(pair[0]) == r.metrics.get(f"{kind}_top1_f") for r in records)
            if not headline:
                out += pair
    return out


def metric_names(records: list[JobRecord]) -> list[str]:
    """``SETTING_METRICS``, the top-1 of every further zero-shot set and retrieval R@5 on S_E (where the jobs have
    them), every family's ground-truth AUC (in the order of the jobs' ``families``) and every per-layer UnitMem
    metric the jobs hold (family, tower, then layer order)."""
    families = list(dict.fromkeys(f for r in records for f in r.metrics.get("families") or []))
    aucs = [f"{family}{suffix}" for family in families for suffix in FAMILY_AUC_SUFFIXES]
    layers = {k for r in records for k in r.metrics if UNITMEM_INFIX in k and k.rsplit("_layer", 1)[-1].isdigit()}
    ordered = sorted(layers, key=lambda k: (k.rsplit("_layer", 1)[0], int(k.rsplit("_layer", 1)[1])))
    retrieval = [m for m in RETRIEVAL_METRICS if any(m in r.metrics for r in records)]
    return [*SETTING_METRICS, *extra_set_metrics(records), *retrieval, *aucs, *ordered]


@dataclass
class Setting:
    """The complete jobs of one setting (same overrides but ``seed``) and their metric intervals."""

    label: str
    overrides: dict[str, str]
    jobs: list[str] = field(default_factory=list)
    seeds: list[str] = field(default_factory=list)
    splits: int = 0  # distinct split manifests among the jobs (data.split_seed follows seed by default)
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
                          [r.overrides.get("seed", "") for r in members],
                          len({r.metrics.get("manifest_sha256", r.job) for r in members}))
        for metric in metric_names(members):
            values = [float(r.metrics[metric]) for r in members if metric in r.metrics]
            if values and len(values) == len(members):
                setting.metrics[metric] = Interval.of(values, kind=metric_kind(metric))
                if "" not in setting.seeds and len(set(setting.seeds)) == len(setting.seeds):  # else unpairable
                    setting.values[metric] = dict(zip(setting.seeds, values, strict=True))
        settings.append(setting)
    return settings


def _present(settings: Sequence[Setting | Difference]) -> list[str]:
    """The metrics some setting (or difference) has: ``SETTING_METRICS`` in its order, then the per-layer ones."""
    seen = list(dict.fromkeys(m for s in settings for m in s.metrics))
    return [m for m in SETTING_METRICS if m in seen] + [m for m in seen if m not in SETTING_METRICS]


def setting_rows(settings: list[Setting]) -> tuple[list[str], list[dict[str, Any]]]:
    """The grouped table: setting, seeds, splits, then mean / low / high of every metric some setting has
    (accuracies as fractions in [0, 1])."""
    metrics = _present(settings)
    columns = ["setting", "n_seeds", "n_splits", "jobs"]
    for metric in metrics:
        columns += [metric, f"{metric}_low", f"{metric}_high"]
    rows = []
    for setting in settings:
        row: dict[str, Any] = {"setting": setting.label, "n_seeds": len(setting.jobs), "n_splits": setting.splits,
                               "jobs": " ".join(setting.jobs)}
        for metric, interval in setting.metrics.items():
            row.update({metric: interval.mean, f"{metric}_low": interval.low, f"{metric}_high": interval.high})
        rows.append(row)
    return columns, rows


def display_scale(metric: str) -> float:
    """Markdown shows accuracies in % (its header says so); everything else as measured."""
    return 100.0 if metric.startswith(("zeroshot_", "linear_probe_", "retrieval_")) else 1.0


def metric_header(metric: str, prefix: str = "") -> str:
    return f"{prefix}{metric} (%)" if display_scale(metric) == 100.0 else f"{prefix}{metric}"


def interval_cell(metric: str, interval: Interval | None) -> str:
    if interval is None:
        return "–"
    scale = display_scale(metric)
    digits = 1 if scale == 100.0 or metric.startswith("num_") else decimals(interval.mean)
    mean = f"{scale * interval.mean:.{digits}f}"
    if math.isnan(interval.low):
        return mean
    return f"{mean} [{scale * interval.low:.{digits}f}, {scale * interval.high:.{digits}f}]"


def settings_markdown(settings: list[Setting]) -> str:
    """Markdown: one row per setting with its seeds and splits, each metric as ``mean [95 % interval]``
    (proportions on the logit scale, counts exact Poisson, accuracies in %)."""
    metrics = _present(settings)
    body = [[setting.label, len(setting.jobs), setting.splits,
             *(interval_cell(m, setting.metrics.get(m)) for m in metrics)] for setting in settings]
    note = ("Mean over the seeds [95 % interval: t on the logit scale for AUCs and accuracies, exact Poisson for "
            "counts, t otherwise].\n\n")
    return note + tabulate(body, ["setting", "seeds", "splits", *(metric_header(m) for m in metrics)],
                           tablefmt="github", disable_numparse=True) + "\n"


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
    seeds; settings whose jobs do not each have their own seed are not paired. Differences of proportions are kept
    within [−1, 1]."""
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
            interval = Interval.of([values[seed] - base[seed] for seed in seeds])
            difference.metrics[metric] = interval.clipped(-1.0, 1.0) if metric_kind(metric) == "proportion" \
                else interval
        out.append(difference)
    return out


def significant(differences: list[Difference], alpha: float = 0.05) -> dict[tuple[str, str], bool]:
    """(setting, metric) -> whether its paired difference survives Holm's correction over every difference of the
    table (the family of comparisons) and its interval excludes 0 with positive width."""
    cells = [(d.label, metric, interval) for d in differences for metric, interval in d.metrics.items()]
    rejected = holm([interval.p_value for _, _, interval in cells], alpha)
    return {(label, metric): bool(r and interval.excludes(0.0))
            for (label, metric, interval), r in zip(cells, rejected, strict=True)}


def difference_rows(differences: list[Difference]) -> tuple[list[str], list[dict[str, Any]]]:
    """The paired table: setting, reference, paired seeds, then mean / low / high / Holm-significant of every
    metric's difference."""
    metrics = _present(differences)
    survives = significant(differences)
    columns = ["setting", "reference", "n_paired_seeds"]
    for metric in metrics:
        columns += [f"delta_{metric}", f"delta_{metric}_low", f"delta_{metric}_high", f"delta_{metric}_p",
                    f"delta_{metric}_holm"]
    rows = []
    for d in differences:
        row: dict[str, Any] = {"setting": d.label, "reference": d.reference, "n_paired_seeds": len(d.seeds)}
        for metric, interval in d.metrics.items():
            row.update({f"delta_{metric}": interval.mean, f"delta_{metric}_low": interval.low,
                        f"delta_{metric}_high": interval.high, f"delta_{metric}_p": interval.p_value,
                        f"delta_{metric}_holm": int(survives[(d.label, metric)])})
        rows.append(row)
    return columns, rows


def differences_markdown(differences: list[Difference]) -> str:
    """Markdown: one row per setting, each metric's paired difference from the reference as ``Δ [95 % interval]``,
    in bold where it survives Holm's correction over the whole table (accuracies in percentage points). Says how
    the jobs were paired, and why none were."""
    if not differences:
        return "One setting only: nothing to compare.\n"
    metrics = _present(differences)
    if not metrics:
        return (f"No setting could be paired with `{differences[0].reference}`: pairing needs the jobs of each setting "
                "to differ in `seed` (sweep it, e.g. `seed=0,1,2`); jobs that share one seed, or have none, are "
                "not paired.\n")
    survives = significant(differences)
    tested = sum(1 for d in differences for i in d.metrics.values() if i.p_value == i.p_value)
    note = (f"Paired by seed against `{differences[0].reference}`: mean difference [95 % t-interval]; **bold**: the "
            f"difference survives Holm's correction over the {tested} tested differences of this table (family-wise "
            "5 %), and its interval excludes 0 with positive width.\n\n")
    body = []
    for d in differences:
        cells = []
        for metric in metrics:
            cell = interval_cell(metric, d.metrics.get(metric))
            cells.append(f"**{cell}**" if survives.get((d.label, metric)) else cell)
        body.append([d.label, len(d.seeds), *cells])
    return note + tabulate(body, ["setting", "paired seeds", *(metric_header(m, "Δ ") for m in metrics)],
                           tablefmt="github", disable_numparse=True) + "\n"
