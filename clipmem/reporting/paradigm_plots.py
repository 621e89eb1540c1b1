"""Plots of the paradigms comparison: mean UnitMem per layer for each family and tower, and each family's AUCs
for mislabeled and atypical samples (docs/paradigms.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from clipmem.reporting.plots import _save  # noqa: E402

TOWER_STYLE = {"image": "-", "text": ":"}


def _unitmem_axes(ax: plt.Axes, curves: dict[str, dict[str, list[float]]], colours: dict[str, str] | None) -> None:
    for family, towers in curves.items():
        for tower, values in towers.items():
            label = family if tower == "image" else f"{family} ({tower} tower)"
            ax.plot(range(1, len(values) + 1), values, TOWER_STYLE.get(tower, "--"), marker="o",
                    color=(colours or {}).get(family), label=label)
            ax.set_xticks(range(1, len(values) + 1))
    ax.set_xlabel("layer")
    ax.set_ylabel("mean UnitMem")
    ax.set_title("UnitMem per layer (image towers; CLIP's text tower dotted)")
    ax.legend(fontsize=8)


def plot_layermem(curves: dict[str, list[float]], path: Path, colours: dict[str, str] | None = None) -> Path:
    """Mean LayerMem per layer: one line per family (``curves``: family -> per-layer values; ``colours``: family ->
    colour, matplotlib's cycle otherwise), 0 marked."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for family, values in curves.items():
        layers = range(1, len(values) + 1)
        ax.plot(layers, values, marker="o", color=(colours or {}).get(family), label=family)
        ax.set_xticks(list(layers))
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("layer")
    ax.set_ylabel("mean LayerMem (in − out)")
    ax.set_title("LayerMem per layer (image towers)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_unitmem(curves: dict[str, dict[str, list[float]]], path: Path, colours: dict[str, str] | None = None) -> Path:
    """Mean UnitMem per layer: one line per family and tower (``curves``: family -> tower -> per-layer values)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    _unitmem_axes(ax, curves, colours)
    return _save(fig, path)


def _auc_axes(ax: plt.Axes, rows: list[dict[str, Any]]) -> None:
    width = 0.38
    for offset, (key, label, hatch) in enumerate((("mislabel", "mislabeled vs clean", ""),
                                                  ("atypical", "atypical vs clean", "//"))):
        for i, row in enumerate(rows):
            value = row.get(f"{key}_auc")
            if value is None or value != value:
                continue
            low, high = row.get(f"{key}_auc_low", value), row.get(f"{key}_auc_high", value)
            ax.bar(i + (offset - 0.5) * width, value, width, yerr=[[value - low], [high - value]], capsize=3,
                   color=row.get("colour") or "tab:gray", hatch=hatch, edgecolor="black",
                   label=label if i == 0 else None)
    ax.axhline(0.5, color="gray", lw=0.8, ls="--")
    ax.set_xticks(range(len(rows)), [row["family"] for row in rows])
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("AUC of the family's score (95 % CI)")
    ax.set_title("Which samples each paradigm memorizes")
    ax.legend(fontsize=8, loc="lower right")


def plot_paradigms(rows: list[dict[str, Any]], curves: dict[str, dict[str, list[float]]], path: Path,
                   colours: dict[str, str] | None = None) -> Path:
    """The comparison figure: each family's AUCs (left) and, with UnitMem, its mean UnitMem per layer (right)."""
    panels = 2 if curves else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    _auc_axes(axes[0, 0], rows)
    if curves:
        _unitmem_axes(axes[0, 1], curves, colours)
    fig.tight_layout()
    return _save(fig, path)
