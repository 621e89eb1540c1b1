"""The UnitMem analysis of a run's models: every model of the plan loaded from its folder, UnitMem per layer of
each tower, the mean per family; unitmem.csv and report/unitmem.png (docs/paradigms.md)."""

from __future__ import annotations

import logging
from typing import Any

import torch

from clipmem.analysis.job import AnalysisJob
from clipmem.analysis.layers import LayerProbe, model_unitmem, unitmem_samples
from clipmem.io import atomic_write_csv
from clipmem.progress import step
from clipmem.reporting.paradigm_plots import plot_unitmem
from clipmem.rundir import RunDir

log = logging.getLogger(__name__)
UNITMEM_COLUMNS = ("family", "model", "tower", "layer", "unitmem")


def unitmem_rows(job: AnalysisJob) -> list[dict[str, Any]]:
    """One row per (model, tower, layer) of every model of the job's plan (loaded from ``job.models_from``): the
    layer's mean UnitMem on ``analysis.samples`` pairs of S_S under ``analysis.views`` augmentations drawn from
    the run seed."""
    ids = unitmem_samples(job.data.manifest, int(job.config.samples))
    probe = LayerProbe(job.data.pairs_of(ids), job.data.eval_transform.image_size, int(job.config.views), job.seed,
                       job.batching)
    rows = []
    for spec in job.plan.specs:
        family = job.families[spec.family]
        model = family.load(job.models_from.model(spec.name))
        with step(f"{spec.name}: UnitMem of {len(ids)} samples x {probe.views} views"):
            towers = model_unitmem(model, family.towers, probe)
        rows += [{"family": spec.family, "model": spec.name, "tower": tower, "layer": layer + 1, "unitmem": value}
                 for tower, values in towers.items() for layer, value in enumerate(values)]
    return rows


def family_curves(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Family -> tower -> mean UnitMem per layer over the family's models (first layer first)."""
    curves: dict[str, dict[str, list[float]]] = {}
    for family in dict.fromkeys(r["family"] for r in rows):
        for tower in dict.fromkeys(r["tower"] for r in rows if r["family"] == family):
            chosen = [r for r in rows if r["family"] == family and r["tower"] == tower]
            layers = sorted({r["layer"] for r in chosen})
            curves.setdefault(family, {})[tower] = [
                float(torch.tensor([r["unitmem"] for r in chosen if r["layer"] == layer]).nanmean())
                for layer in layers]
    return curves


def write_unitmem(out: RunDir, rows: list[dict[str, Any]], colours: dict[str, str] | None = None) -> dict[str, Any]:
    """unitmem.csv (every row) and report/unitmem.png (the family curves, in the families' ``colours``); returns
    ``{"unitmem": curves}``."""
    atomic_write_csv(out.root / "unitmem.csv", rows, UNITMEM_COLUMNS)
    curves = family_curves(rows)
    plot_unitmem(curves, out.report_file("unitmem"), colours)
    for family, towers in curves.items():
        for tower, values in towers.items():
            log.info("UnitMem %s %s tower, layer 1 → %d: %s", family, tower, len(values),
                     " ".join(f"{v:.3f}" for v in values))
    return {"unitmem": curves}


def analyse_unitmem(job: AnalysisJob, out: RunDir) -> dict[str, Any]:
    """UnitMem of every model of the job's plan written into ``out``; returns the metrics (family curves)."""
    return write_unitmem(out, unitmem_rows(job), job.colours)
