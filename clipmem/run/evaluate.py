"""``python evaluate.py``: re-score a finished run from its saved models, or tabulate a whole sweep."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from clipmem import hardware
from clipmem.analysis.layermem_run import analyse_layermem
from clipmem.analysis.run import analyse_unitmem
from clipmem.config import legacy
from clipmem.config.schema import EvaluateConfig, check_known_keys
from clipmem.config.settings import ExperimentSettings, load_settings
from clipmem.data.build import build_data
from clipmem.data.experiment_data import ExperimentData
from clipmem.data.run_files import write_data_files
from clipmem.data.splits.manifest import SplitManifest, check_manifest
from clipmem.errors import ConfigError
from clipmem.io import atomic_write_json
from clipmem.plan.fit import FittedModel, contexts, measure_model, warm_features
from clipmem.plan.spec import Plan
from clipmem.reporting import tracking
from clipmem.reporting.paradigms import log_layer_curves
from clipmem.reporting.summary import format_layers, format_summary
from clipmem.reporting.sweep_reference import SweepReference
from clipmem.run.context import RunContext
from clipmem.run.steps import analysis_job, estimate_and_report, run_plan
from clipmem.rundir import RunDir
from clipmem.scoring.compat import check_models


def rebuild_data(settings: ExperimentSettings, run: RunDir) -> ExperimentData:
    """The run's data rebuilt from its config; it must hash to the saved splits.json (removals included)."""
    saved = SplitManifest.read(run.splits)
    data = build_data(settings.data)
    if saved.removed:  # remove_topk: the saved manifest is the record of what was left out
        data = data.with_removed(saved.removed)
    data = data.with_saved_groups(saved)  # the partitions the models were trained on
    check_manifest(data.manifest, saved, str(run.splits))
    return data


ANALYSES = ("unitmem", "layermem")  # what evaluate.py's analysis= can run instead of re-scoring


def measure_saved_models(plan: Plan, data: ExperimentData, settings: ExperimentSettings, run: RunDir,
                         device: torch.device) -> dict[str, FittedModel]:
    """Load every model of ``plan`` from ``models/``, check they form the plan, and measure each."""
    run.require_finished_models(plan.names)
    metas = {spec.name: json.loads(run.model_meta(spec.name).read_text()) for spec in plan.specs}
    check_models(metas, {spec.name: spec.train_ids for spec in plan.specs}, data.manifest)
    # a frozen tower's features as the run computed them (in its chunks), from the cache_dir it kept them in if any
    warm_features(settings.recipe, data, settings.data.cache_dir)
    return {context.spec.name: measure_model(context.family.load(run.model(context.spec.name)), context, device)
            for context in contexts(plan, data, settings.scoring, run, settings.families)}


def evaluate_analysis(run: RunDir, settings: ExperimentSettings, data: ExperimentData, target: torch.device,
                      analysis: str, log_to_wandb: bool | None = None) -> dict[str, Any]:
    """``analysis=unitmem`` (UnitMem per layer) or ``analysis=layermem`` (LayerMem per layer) of the run's saved
    models, into a new evaluation folder (its own <analysis>.csv, report/<analysis>.png, metrics.json; logged as
    ``evaluation_loggers`` says); the run's own files are left as they are."""
    plan = run_plan(settings, data.manifest)
    run.require_finished_models(plan.names)
    out = run.new_evaluation()
    atomic_write_json(out.evaluation_record, {"run_dir": str(run.root), "analysis": analysis,
                                              "run_state": run.read_status().get("state", "unknown")})
    job = analysis_job(settings, plan, data, run, target)
    if analysis == "unitmem":
        metrics = analyse_unitmem(job, out)
        curves = metrics["unitmem"]
    else:
        metrics = analyse_layermem(job, out)
        curves = {family: {"image": values} for family, values in metrics["layermem"].items()}
    atomic_write_json(out.metrics, metrics)
    loggers = evaluation_loggers(settings, run, out, log_to_wandb)
    try:
        log_layer_curves(loggers, analysis, curves, out.report_file(analysis))
        sync = tracking.sync_commands(loggers)
    finally:
        tracking.finish(loggers, 0)
    out.write_status("complete")
    print(format_layers(analysis, curves, out.root), flush=True)
    for line in sync:
        print(f"  offline W&B run: sync it with  {line}", flush=True)
    return metrics


def evaluation_loggers(settings: ExperimentSettings, run: RunDir, out: RunDir, wanted: bool | None) -> list:
    """The run's loggers for an evaluation (``wanted``: True, False, or None = when the run logged to W&B).
    The W&B run writes into the evaluation folder and joins the training run's group as job type ``evaluate``."""
    if wanted is False or (wanted is None and not run.wandb_record.is_file()):
        return []
    labels = tracking.linked_labels(run.wandb_record, f"{run.root.parent.name}/{run.root.name}")
    made = settings.make_loggers(save_dir=str(out.root), **labels)
    return [logger for logger in made if tracking.has_wandb([logger])]  # results are logged to W&B only


def evaluate_run_dir(run_dir: str | Path, scoring_overrides: dict[str, Any] | None = None,
                     device: str = "auto", log_to_wandb: bool | None = None, analysis: str | None = None
                     ) -> dict[str, Any]:
    """Re-score a finished run from its saved models into a new ``evaluations/<date>_<time>/`` folder (or, with
    ``analysis``, run that analysis of its models there instead: ``evaluate_analysis``).

    The run's own scores.csv, metrics.json and report/ are never touched. The data is rebuilt from the
    run's config and must match its splits.json (ids and, where recorded, content fingerprints); the models
    must form the design's plan (``check_models``). ``scoring_overrides`` replace keys of ``scoring``.
    """
    if analysis is not None and analysis not in ANALYSES:
        raise ConfigError(f"analysis must be one of {list(ANALYSES)} (or null to re-score), got {analysis!r}")
    if analysis is not None and scoring_overrides:
        raise ConfigError(f"analysis={analysis} does not re-score: leave out the scoring.* overrides "
                          f"({sorted(scoring_overrides)}) or run them separately")
    run = RunDir(run_dir)
    run.require_finished_models(())
    settings = load_settings(legacy.saved_run_config(run.config, run.root, scoring_overrides))
    settings.hardware.configure()
    data = rebuild_data(settings, run)
    target = settings.eval_device() if device == "auto" else hardware.eval_device(device)
    if analysis is not None:
        return evaluate_analysis(run, settings, data, target, analysis, log_to_wandb)
    plan = run_plan(settings, data.manifest)
    fitted = measure_saved_models(plan, data, settings, run, target)
    out = run.new_evaluation()
    atomic_write_json(out.evaluation_record, {"run_dir": str(run.root), "scoring_overrides": scoring_overrides or {},
                                              "run_state": run.read_status().get("state", "unknown")})
    # CLIPMem across f's epochs can only be measured during training: carry it over, never drop it.
    history = json.loads(run.metrics.read_text()).get("clipmem_history") if run.metrics.is_file() else None
    loggers = evaluation_loggers(settings, run, out, log_to_wandb)
    try:
        extra = {"seed": settings.seed, "manifest_sha256": data.manifest.sha256, **write_data_files(out, data)}
        metrics = estimate_and_report(RunContext(settings, data, plan, out, run, loggers), fitted, extra, history or [])
        sync = tracking.sync_commands(loggers)
    finally:
        tracking.finish(loggers, 0)
    out.write_status("complete")
    print(format_summary(metrics, out.root, sync), flush=True)
    state = run.read_status().get("state")
    if state != "complete":
        print(f"  note: the run itself is {state or 'without a status'}; its own results were not written by it",
              flush=True)
    if settings.audit.enabled:
        print(f"  note: {audit_note(run.root)}", flush=True)
    return metrics


def audit_note(root: Path) -> str:
    """What a re-score says of an audit run: evaluate.py re-scores the models and does not redo the audit, so the
    run's own audit.csv stands, or (none there) how to finish it."""
    if (root / "audit.csv").is_file():
        return (f"evaluate.py re-scores the models and does not redo the audit; the run's own {root / 'audit.csv'} "
                "stands")
    return (f"evaluate.py does not redo the audit, and {root} has no audit.csv (yet): a run that stopped before its "
            f"audit finishes it when its train.py command is given again with run_dir={root} resume=true (the "
            f"command's overrides: {root / '.hydra' / 'overrides.yaml'})")


def evaluate_sweep_dir(sweep_dir: str | Path, reference: SweepReference | None = None) -> dict[str, Any]:
    """Write sweep_results.csv/.md and the sweep plots into ``sweep_dir`` (with ``reference``, the differences from a
    setting of another sweep too); print which jobs did not complete."""
    from clipmem.reporting.sweep import aggregate_sweep, format_sweep_summary

    report = aggregate_sweep(sweep_dir, reference=reference)
    print(format_sweep_summary(Path(sweep_dir), report.records), flush=True)
    written = [*report.tables, *(p for p in report.plots.values() if p is not None)]
    print("  wrote " + ", ".join(p.name for p in written), flush=True)
    return {"jobs": len(report.records), "complete": len(report.records) - len(report.failed),
            "not_complete": [r.job for r in report.failed]}


def evaluate_config(cfg: DictConfig) -> dict[str, Any]:
    """``evaluate_entry`` of evaluate.py's composed config, whose keys must all be ``EvaluateConfig``'s (a `+key=value`
    such as a train.py setting would otherwise be dropped unread)."""
    check_known_keys(cfg, EvaluateConfig)
    return evaluate_entry(OmegaConf.to_object(cfg))


def evaluate_entry(request: EvaluateConfig) -> dict[str, Any]:
    """What ``evaluate.py`` does with its config (as the ``EvaluateConfig`` object): exactly one of ``run_dir``
    (re-score one run, its ``scoring.*`` keys given a value overriding the run's own, with ``analysis`` analyse
    its models, or with ``review`` count an audit's wrong pairs from a review) or ``sweep_dir`` (tabulate, against
    ``reference``'s ``reference_setting`` too where given)."""
    run_dir, sweep_dir = request.run_dir, request.sweep_dir
    overrides = {k: v for k, v in dataclasses.asdict(request.scoring).items() if v is not None}
    if (run_dir is None) == (sweep_dir is None):
        given = "both" if run_dir is not None else "neither"
        raise ConfigError(f"evaluate.py needs exactly one of run_dir=<run directory> or sweep_dir=<multirun "
                          f"directory>; got {given}")
    if sweep_dir is None and (request.reference is not None or request.reference_setting is not None):
        raise ConfigError("reference= and reference_setting= apply to sweep_dir=..., not run_dir=...")
    if request.review is not None:
        if run_dir is None or overrides or request.analysis is not None:
            raise ConfigError("review= reads an audit run's audit.csv: give it with run_dir=<audit run> alone (no "
                              "sweep_dir, scoring.* or analysis)")
        from clipmem.run.review import evaluate_review

        return evaluate_review(run_dir, request.review)
    if sweep_dir is not None:
        if overrides:
            raise ConfigError(f"scoring.* overrides apply to run_dir=..., not sweep_dir=... (got {overrides})")
        if request.reference is None and request.reference_setting is not None:
            raise ConfigError("reference_setting= needs reference=<the sweep directory it is a setting of>")
        reference = None if request.reference is None else SweepReference(Path(request.reference),
                                                                           request.reference_setting)
        return evaluate_sweep_dir(sweep_dir, reference)
    return evaluate_run_dir(run_dir, overrides, request.device, request.wandb, request.analysis)
