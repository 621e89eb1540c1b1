"""The paradigms comparison of a run with several families: one row per family (its score's AUCs for mislabeled
and atypical samples with intervals, its raw means, its utility, its UnitMem), as paradigms.csv and
paradigms.md, the figure report/paradigms.png, and the W&B side (docs/paradigms.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tabulate import tabulate

from clipmem.io import atomic_write_csv, atomic_write_text
from clipmem.reporting import tracking
from clipmem.reporting.paradigm_plots import plot_paradigms
from clipmem.rundir import RunDir

COLUMNS = ("family", "score", "colour", "mislabel_auc", "mislabel_auc_low", "mislabel_auc_high", "atypical_auc",
           "atypical_auc_low", "atypical_auc_high", "raw_mean_clean", "raw_mean_mislabel", "raw_mean_atypical",
           "linear_probe_top1", "unitmem_first_layer", "unitmem_last_layer")


def _utility(metrics: dict[str, Any]) -> float | None:
    """The mean over the family's models of their headline linear-probe top-1."""
    values = [v for k, v in metrics.items() if k.startswith("linear_probe_top1_") and not k.endswith("_mean")]
    return metrics.get("linear_probe_top1_mean", sum(values) / len(values) if values else None)


def comparison_rows(per_family: dict[str, dict[str, Any]], curves: dict[str, dict[str, list[float]]] | None,
                    families: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per family (``COLUMNS``) from its metrics, its UnitMem curves and what the family says of itself (its
    score's name and colour)."""
    rows = []
    for family, metrics in per_family.items():
        image = (curves or {}).get(family, {}).get("image") or [None]
        described = families[family]
        row = {"family": family, "score": described.score_name, "colour": described.colour,
               **{key: metrics.get(key) for key in COLUMNS[3:9]},
               "raw_mean_clean": metrics.get("clipmem_raw_mean_neither"),
               "raw_mean_mislabel": metrics.get("clipmem_raw_mean_mislabel"),
               "raw_mean_atypical": metrics.get("clipmem_raw_mean_atypical"),
               "linear_probe_top1": _utility(metrics), "unitmem_first_layer": image[0],
               "unitmem_last_layer": image[-1]}
        rows.append(row)
    return rows


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The comparison as a Markdown table (AUCs with their 95 % Hanley–McNeil intervals)."""
    body = []
    for r in rows:
        auc = {k: f"{_cell(r[f'{k}_auc'])} [{_cell(r[f'{k}_auc_low'])}, {_cell(r[f'{k}_auc_high'])}]"
               for k in ("mislabel", "atypical")}
        means = " / ".join(_cell(r[k], 4) for k in ("raw_mean_clean", "raw_mean_mislabel", "raw_mean_atypical"))
        body.append([r["family"], r["score"], auc["mislabel"], auc["atypical"], means, _cell(r["linear_probe_top1"]),
                     f"{_cell(r['unitmem_first_layer'])} → {_cell(r['unitmem_last_layer'])}"])
    head = ["family", "score", "AUC mislabeled vs clean [95 % CI]", "AUC atypical vs clean [95 % CI]",
            "raw mean clean / mislabeled / atypical", "linear probe top-1", "UnitMem layer 1 → last"]
    return tabulate(body, head, tablefmt="github", disable_numparse=True) + "\n"


def write_comparison(run: RunDir, rows: list[dict[str, Any]], curves: dict[str, dict[str, list[float]]] | None
                     ) -> dict[str, Path]:
    """paradigms.csv, paradigms.md and report/paradigms.png in ``run``; returns their paths."""
    atomic_write_csv(run.root / "paradigms.csv", rows, COLUMNS)
    atomic_write_text(run.root / "paradigms.md", markdown_table(rows))
    figure = plot_paradigms(rows, curves or {}, run.report_file("paradigms"), {r["family"]: r["colour"] for r in rows})
    return {"table": run.root / "paradigms.csv", "figure": figure}


def log_comparison(loggers: list, rows: list[dict[str, Any]], metrics: dict[str, Any], figures: dict[str, Path]
                   ) -> None:
    """Into each W&B run: every numeric metric in the summary (``final/…``), the figures and the comparison
    table ``paradigms/comparison``."""
    runs = tracking.wandb_runs(loggers)
    if not runs:
        return
    import wandb

    for run in runs:
        run.summary.update({f"final/{k}": v for k, v in metrics.items() if isinstance(v, int | float)})
        run.log({f"report/{name}": wandb.Image(str(path)) for name, path in figures.items() if path is not None})
        table = wandb.Table(columns=list(COLUMNS), data=[[row[c] for c in COLUMNS] for row in rows])
        run.log({"paradigms/comparison": table})


def layer_curve_rows(curves: dict[str, dict[str, list[float]]]) -> list[list[Any]]:
    """``[family, tower, layer, value]`` for every layer (first layer = 1) of every family's tower."""
    return [[family, tower, layer, value] for family, towers in curves.items() for tower, values in towers.items()
            for layer, value in enumerate(values, start=1)]


def unitmem_metrics(curves: dict[str, dict[str, list[float]]]) -> dict[str, float]:
    """The curves as flat metrics ``<family>_unitmem_<tower>_layer<k>`` (what a sweep's seed table and W&B's run
    summary can average and compare)."""
    return {f"{family}_unitmem_{tower}_layer{layer}": value
            for family, tower, layer, value in layer_curve_rows(curves)}


def log_layer_curves(loggers: list, name: str, curves: dict[str, dict[str, list[float]]], figure: Path | None
                     ) -> None:
    """Into each W&B run: per-layer values (``name``: unitmem or layermem) as the table ``<name>/layers`` (family,
    tower, layer, value; plot it with W&B's line plot grouped by family and tower) and the figure as
    ``report/<name>``."""
    runs = tracking.wandb_runs(loggers)
    if not runs:
        return
    import wandb

    for run in runs:
        table = wandb.Table(columns=["family", "tower", "layer", name], data=layer_curve_rows(curves))
        run.log({f"{name}/layers": table,
                 **({f"report/{name}": wandb.Image(str(figure))} if figure is not None and figure.is_file() else {})})
