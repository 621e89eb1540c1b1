"""PNG plots of a sweep: memorization vs utility per job, CLIPMem distributions, metrics vs a swept value."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from clipmem.reporting.plots import _save, plt

if TYPE_CHECKING:
    from clipmem.reporting.sweep import JobRecord

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

    Points are coloured by mitigation and labelled with the job's swept values. None if no job completed.
    """
    done = [(r, label) for r, label in zip(records, labels, strict=True) if r.state == "complete"]
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


def numeric_key(records: list[JobRecord], keys: list[str]) -> str | None:
    """The first swept key whose values are numbers in every job that has it (the x axis of the trends)."""
    for key in keys:
        values = [r.overrides.get(key) for r in records if key in r.overrides]
        if len(set(values)) > 1 and all(_as_float(v) is not None for v in values):
            return key
    return None


def plot_trends(records: list[JobRecord], keys: list[str], path: Path) -> Path | None:
    """Mean CLIPMem and utility of f against the numeric swept value, one line per other swept setting.

    The paper's figures (CLIPMem and accuracy vs noise σ, captions per image, removed samples) have this
    shape. None when no swept key is numeric or no job completed.
    """
    x_key = numeric_key(records, keys)
    done = [r for r in records if r.state == "complete" and x_key in r.overrides]
    if x_key is None or not done:
        return None
    others = [k for k in keys if k != x_key]
    lines: dict[str, list[JobRecord]] = defaultdict(list)
    for record in done:
        lines[" ".join(f"{k}={record.overrides.get(k, '-')}" for k in others) or "all"].append(record)
    panels = [("clipmem_mean", "mean CLIPMem", 1.0), ("clipmem_raw_mean", "mean raw CLIPMem", 1.0)]
    panels += [(m, f"{label} (%)", 100.0) for m, label in UTILITY_LABELS.items() if any(m in r.metrics for r in done)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (metric, ylabel, scale) in zip(axes[0], panels, strict=True):
        for name, group in lines.items():
            group = sorted((r for r in group if metric in r.metrics), key=lambda r: float(r.overrides[x_key]))
            ax.plot([float(r.overrides[x_key]) for r in group], [scale * r.metrics[metric] for r in group],
                    marker="o", label=name)
        ax.set_xlabel(x_key)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    if len(lines) > 1:
        axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Memorization and utility vs {x_key}")
    fig.tight_layout()
    return _save(fig, path)
