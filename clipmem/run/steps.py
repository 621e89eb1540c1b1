"""The steps a run takes between training and its results, shared by train.py and evaluate.py."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch

from clipmem.analysis.job import AnalysisJob
from clipmem.analysis.run import analyse_unitmem
from clipmem.audit import AuditInputs, AuditRequest, write_audit
from clipmem.data.experiment_data import ExperimentData
from clipmem.data.run_files import write_data_files
from clipmem.data.splits.manifest import SplitManifest, check_manifest
from clipmem.io import atomic_write_text
from clipmem.mitigations.base import Mitigation
from clipmem.mitigations.remove_topk import write_removal
from clipmem.plan.families import family_plan, is_default
from clipmem.plan.fit import FittedModel
from clipmem.plan.spec import Plan
from clipmem.progress import step
from clipmem.reporting import tracking
from clipmem.reporting.results import Estimate, write_results
from clipmem.run.context import RunContext
from clipmem.run.families import estimate_families
from clipmem.rundir import RunDir

if TYPE_CHECKING:
    from clipmem.config.settings import ExperimentSettings

log = logging.getLogger(__name__)



def run_plan(settings: ExperimentSettings, manifest: SplitManifest) -> Plan:
    """The run's plan: the design's models on ``manifest``, once per family."""
    return family_plan(settings.design.plan(manifest, settings.seed), tuple(settings.families))

def apply_removal(data: ExperimentData, mitigation: Mitigation, run: RunDir, write: bool) -> ExperimentData:
    """The mitigation's removal (``remove_topk``) applied to the split; ``removed.csv`` written when ``write``."""
    removal = mitigation.select_removal(data.manifest)
    if removal is None:
        return data
    if write:
        write_removal(run.removed, removal)
    log.info("%s: %d candidates (%s) and %d independent pairs left out", mitigation.name, len(removal.candidate),
             removal.ranking, len(removal.independent))
    return data.with_removed(removal.ids)


def record_data(data: ExperimentData, run: RunDir, resume: bool, write: bool, loggers: list) -> dict[str, int]:
    """splits.json (or, on resume, the check against it), skipped samples, sample keys, the splits artifact.

    Returns the data's metrics (``num_skipped``) for metrics.json; nothing is written unless ``write``.
    """
    if resume:
        check_manifest(data.manifest, SplitManifest.read(run.splits), str(run.splits))
    if not write:
        return {}
    if not resume:
        atomic_write_text(run.splits, data.manifest.to_json())
    metrics = write_data_files(run, data)
    tracking.log_file(loggers, run.splits, "splits", "split-manifest")
    return metrics


def analyse(settings: Any, plan: Plan, data: ExperimentData, models_from: RunDir, out: RunDir
            ) -> dict[str, dict[str, list[float]]] | None:
    """With ``analysis.unitmem``: UnitMem per layer of every model of ``plan`` (saved in ``models_from``), its
    files in ``out``; returns the family curves (None when the analysis is off)."""
    if not settings.analysis.unitmem:
        return None
    return analyse_unitmem(analysis_job(settings, plan, data, models_from, settings.eval_device()), out)["unitmem"]


def analysis_job(settings: Any, plan: Plan, data: ExperimentData, models_from: RunDir, device: torch.device
                 ) -> AnalysisJob:
    """The analysis of ``plan``'s models (saved in ``models_from``) with the run's design, families, analysis
    settings and seed, encoding on ``device``."""
    return AnalysisJob(plan, settings.design, data, settings.families, models_from, settings.analysis,
                       int(settings.seed), torch.device(device))


def estimate_and_report(ctx: RunContext, fitted: dict[str, FittedModel], extra_metrics: dict[str, Any],
                        history: list[dict] | None = None, audit: AuditRequest | None = None,
                        curves: dict | None = None) -> dict[str, Any]:
    """The design's estimator over every model's statistics, then (``audit``, when enabled) the audit's files, then
    scores.csv, report/, metrics.json in ``ctx.out``. With several families: each family's results and the comparison
    (``clipmem.run.families``; ``curves``: UnitMem)."""
    if not is_default(tuple(ctx.families)):
        return estimate_families(ctx, fitted, extra_metrics, curves)
    design, plan = ctx.design, ctx.plan
    stats = {name: model.statistics for name, model in fitted.items()}
    with step(f"scoring: {design.name} estimate of {len(plan.scored_ids)} pairs from {len(plan.specs)} models"):
        scores = design.estimate(plan, stats, ctx.normalisation)
    if audit is not None and audit.config.enabled:
        with step(f"audit: ranks, probabilities and reliability of {len(plan.scored_ids)} pairs"):
            found = write_audit(ctx.out, AuditInputs(ctx.data, plan, scores, audit), stats, ctx.report, ctx.loggers)
        extra_metrics = {**extra_metrics, **found}
    if history is None:
        history = next((model.history for model in fitted.values() if model.history), [])
    utility = {name: model.utility for name, model in fitted.items()}
    extra = {"design": design.name, "num_models": len(plan.specs), **design.summary(plan, stats), **extra_metrics,
             **({"unitmem": curves} if curves else {})}
    return write_results(ctx.out, ctx.data, Estimate(scores, utility, history, extra, plan.sets), ctx.report,
                         ctx.loggers)
