"""A run with several families: each family's models estimated by the design as if they were the only ones,
reported under ``families/<family>/``; then the comparison (paradigms.csv/.md, report/paradigms.png) and the
run's metrics.json with every family's metrics prefixed by its name (docs/paradigms.md)."""

from __future__ import annotations

from typing import Any

from clipmem.io import atomic_write_json
from clipmem.plan.families import family_statistics, family_subplan
from clipmem.plan.fit import FittedModel, saved_history
from clipmem.progress import step
from clipmem.reporting.paradigms import (
    comparison_rows,
    log_comparison,
    log_layer_curves,
    unitmem_metrics,
    write_comparison,
)
from clipmem.reporting.results import Estimate, write_results
from clipmem.run.context import RunContext
from clipmem.rundir import RunDir


def report_family(ctx: RunContext, family: str, fitted: dict[str, FittedModel]) -> dict[str, Any]:
    """One family's estimate and its results in ``out/families/<family>/`` (scores.csv, metrics.json, report/)."""
    design = ctx.design
    sub, names = family_subplan(ctx.plan, family, tuple(ctx.families))
    stats = family_statistics({name: model.statistics for name, model in fitted.items()}, names)
    with step(f"scoring {family}: {design.name} estimate of {len(sub.scored_ids)} samples from {len(sub.specs)} "
              "models"):
        scores = design.estimate(sub, stats, ctx.normalisation)
    utility = {short: fitted[full].utility for short, full in names.items()}
    histories = [fitted[full].history or (saved_history(ctx.models_from, full)
                                          if ctx.models_from.model_meta(full).is_file() else [])
                 for full in names.values()]
    history = next((h for h in histories if h), [])
    extra = {"family": family, "design": design.name, "num_models": len(sub.specs), **design.summary(sub, stats)}
    return write_results(RunDir(ctx.out.root / "families" / family), ctx.data,
                         Estimate(scores, utility, history, extra, sub.sets), ctx.report, [])


def numeric(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def estimate_families(ctx: RunContext, fitted: dict[str, FittedModel], extra_metrics: dict[str, Any],
                      curves: dict[str, dict[str, list[float]]] | None = None) -> dict[str, Any]:
    """Every family's results, the comparison and metrics.json (written last); returns the metrics (``curves``:
    UnitMem)."""
    families, run, loggers = tuple(ctx.families), ctx.out, ctx.loggers
    per_family = {family: report_family(ctx, family, fitted) for family in families}
    rows = comparison_rows(per_family, curves, ctx.families)
    paths = write_comparison(run, rows, curves)
    metrics: dict[str, Any] = {
        **extra_metrics, "families": list(families), "design": ctx.design.name, "num_models": len(ctx.plan.specs),
        **{f"{family}_{key}": value for family, values in per_family.items() for key, value in numeric(values).items()},
        "paradigms": rows, **({"unitmem": curves, **unitmem_metrics(curves)} if curves else {}),
    }
    figures = {"paradigms": paths["figure"], **{f"{family}/histogram": run.root / "families" / family / "report" /
                                                 "histogram.png" for family in families}}
    log_comparison(loggers, rows, metrics, figures)
    if curves:
        log_layer_curves(loggers, "unitmem", curves, run.report_file("unitmem"))
    atomic_write_json(run.metrics, metrics)
    return metrics
