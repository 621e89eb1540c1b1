"""PNG plots of a sweep: memorization vs utility per job, CLIPMem distributions, metrics vs a swept value."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from clipmem.reporting.plots import _save, plt

if TYPE_CHECKING:
    from clipmem.reporting.intervals import Interval
    from clipmem.reporting.sweep_jobs import JobRecord
    from clipmem.reporting.sweep_settings import Setting

UTILITY_LABELS = {
    "linear_probe_top1_f": "linear-probe top-1 of f",
    "zeroshot_top1_f": "zero-shot top-1 of f",
}


def _colours(records: list[JobRecord]) -> dict[str, str]:
    names = sorted({r.mitigation for r in records})
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


def plot_memorization_vs_utility(records: list[JobRecord], labels: list[str], path: Path) -> Path | None:
    """Mean CLIPMem (y) against each available utility metric of f (x, %), one point per complete job.

    Points are coloured by mitigation and labelled with the job's swept values. None if no complete job has a mean
    CLIPMem (a job of experiment=paradigms has its families' means instead).
    """
    done = [(r, label) for r, label in zip(records, labels, strict=True)
            if r.state == "complete" and "clipmem_mean" in r.metrics]
    metrics = [m for m in UTILITY_LABELS if any(m in r.metrics for r, _ in done)]
    if not done or not metrics:
        return None
    colours = _colours([r for r, _ in done])
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.2 * len(metrics), 4.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        seen: set[str] = set()
        for record, label in done:
            if metric not in record.metrics:
                continue
            x, y = 100 * record.metrics[metric], record.metrics["clipmem_mean"]
            legend = record.mitigation if record.mitigation not in seen else None
            seen.add(record.mitigation)
            ax.scatter([x], [y], color=colours[record.mitigation], label=legend, s=36, zorder=3)
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xlabel(f"{UTILITY_LABELS[metric]} (%)")
        ax.set_ylabel("mean CLIPMem")
        ax.grid(alpha=0.3)
        ax.legend(title="mitigation", fontsize=8)
    fig.suptitle("Memorization vs utility per job (better: right and down)")
    return _save(fig, path)


def plot_score_distributions(records: list[JobRecord], labels: list[str], path: Path) -> Path | None:
    """Box plots of the per-candidate CLIPMem of each complete job (from its scores.csv)."""
    done = [(r, label) for r, label in zip(records, labels, strict=True) if r.scores]
    if not done:
        return None
    colours = _colours([r for r, _ in done])
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(done) + 1.6))
    boxes = ax.boxplot([r.scores for r, _ in done], vert=False, patch_artist=True, widths=0.6,
                       flierprops={"markersize": 2, "alpha": 0.5})
    for patch, (record, _) in zip(boxes["boxes"], done, strict=True):
        patch.set_facecolor(colours[record.mitigation])
        patch.set_alpha(0.6)
    ax.set_yticks(range(1, len(done) + 1), [label for _, label in done], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("CLIPMem of candidates (min-max normalised per run)")
    ax.set_title("CLIPMem distribution per setting")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def _as_float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def numeric_key(settings: list[Setting], keys: list[str]) -> str | None:
    """The first swept key (seed aside) whose values are numbers in every setting (the x axis of trends)."""
    for key in keys:
        values = [s.overrides.get(key) for s in settings if key in s.overrides]
        if len(set(values)) > 1 and all(_as_float(v) is not None for v in values):
            return key
    return None


TREND_PANELS = (  # (metric, axis label, scale)
    ("clipmem_raw_mean", "mean raw CLIPMem", 1.0),
    ("clipmem_mean", "mean CLIPMem (normalised)", 1.0),
    ("miscaption_auc", "mis-caption AUC", 1.0),
    ("linear_probe_top1_f", "linear-probe top-1 of f (%)", 100.0),
    ("zeroshot_top1_f", "zero-shot top-1 of f (%)", 100.0),
)


def _errorbar(ax, xs: list[float], intervals: list[Interval], scale: float, label: str | None) -> None:
    ys = [scale * i.mean for i in intervals]
    err = [[scale * (i.mean - i.low) if i.n > 1 else 0.0 for i in intervals],
           [scale * (i.high - i.mean) if i.n > 1 else 0.0 for i in intervals]]
    ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=label)


def plot_trends(settings: list[Setting], keys: list[str], path: Path) -> Path | None:
    """Each metric (mean over seeds, 95 % t-interval as error bars) against the numeric swept value, one line
    per other swept setting: the shape of the paper's figures (CLIPMem and accuracy vs σ, captions, removal).
    None when no swept key is numeric."""
    x_key = numeric_key(settings, keys)
    if x_key is None:
        return None
    others = [k for k in keys if k not in (x_key, "seed")]
    lines: dict[str, list[Setting]] = defaultdict(list)
    for setting in settings:
        if x_key in setting.overrides:
            lines[" ".join(f"{k}={setting.overrides.get(k, '-')}" for k in others) or "all"].append(setting)
    panels = [p for p in TREND_PANELS if any(p[0] in s.metrics for s in settings)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (metric, ylabel, scale) in zip(axes[0], panels, strict=True):
        for name, group in lines.items():
            group = sorted((s for s in group if metric in s.metrics), key=lambda s: float(s.overrides[x_key]))
            _errorbar(ax, [float(s.overrides[x_key]) for s in group], [s.metrics[metric] for s in group], scale,
                      name)
        ax.set_xlabel(x_key)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if len(lines) > 1:
        axes[0][0].legend(fontsize=7)
    seeds = max(len(s.jobs) for s in settings)
    fig.suptitle(f"Memorization and utility vs {x_key} (mean of up to {seeds} seeds, 95 % t-intervals)")
    fig.tight_layout()
    return _save(fig, path)


def plot_settings(settings: list[Setting], path: Path) -> Path | None:
    """One row per setting: each metric's mean over seeds with its 95 % t-interval (horizontal bars)."""
    panels = [p for p in TREND_PANELS if any(p[0] in s.metrics for s in settings)]
    if not settings or not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 0.45 * len(settings) + 1.8),
                             squeeze=False, sharey=True)
    ys = list(range(len(settings)))
    for ax, (metric, label, scale) in zip(axes[0], panels, strict=True):
        for y, setting in zip(ys, settings, strict=True):
            interval = setting.metrics.get(metric)
            if interval is None:
                continue
            err = [[scale * (interval.mean - interval.low)], [scale * (interval.high - interval.mean)]] \
                if interval.n > 1 else None
            ax.errorbar([scale * interval.mean], [y], xerr=err, marker="o", capsize=3, color="tab:blue")
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(ys, [f"{s.label} (n={len(s.jobs)})" for s in settings], fontsize=7)
    axes[0][0].invert_yaxis()
    fig.suptitle("Settings: mean over seeds with 95 % t-intervals")
    fig.tight_layout()
    return _save(fig, path)
