"""``python train.py``: one experiment, as a straight line of steps (docs/configuration.md)."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

from clipmem import distributed
from clipmem.audit import AuditRequest
from clipmem.config.paths import absolute_paths
from clipmem.config.schema import TrainConfig, check_known_keys, check_model_option
from clipmem.config.settings import load_settings, run_options
from clipmem.data.build import build_data
from clipmem.data.splits.manifest import SplitManifest
from clipmem.distributed import launcher_config
from clipmem.errors import ConfigError
from clipmem.plan.checks import check_plan_steps
from clipmem.plan.fit import FitSetup, fit_plan
from clipmem.plan.training import epoch_metrics, with_min_steps
from clipmem.progress import step
from clipmem.reporting import tracking
from clipmem.reporting.summary import format_summary
from clipmem.run.context import RunContext
from clipmem.run.lifecycle import RunLifecycle, completed_metrics
from clipmem.run.steps import analyse, apply_removal, estimate_and_report, record_data, run_plan
from clipmem.rundir import RunDir

log = logging.getLogger(__name__)


def skip_if_complete(cfg: DictConfig) -> dict[str, Any] | None:
    """With ``skip_completed`` (default), the metrics of a run directory that completed with this config."""
    options = run_options(cfg)
    done = completed_metrics(RunDir(options.run_dir), options.fingerprint) if options.skip_completed else None
    if done is not None and distributed.is_global_zero():
        job = distributed.hydra_job()
        who = f"job {job['num']}" if job is not None else "run"
        print(f"clipmem: {who}: skipped, already complete with the same config ({options.run_dir})", flush=True)
    return done


def objective(metrics: dict[str, Any] | None, name: str) -> float:
    """What train.py returns to Hydra (and a sweeper optimizes): ``metrics[name]`` (``optimized_metric``; in a run
    with several families ``<family>_<name>`` of the first family when ``name`` has no prefix); NaN on DDP
    ranks > 0, which have no metrics."""
    if metrics is None:
        return float("nan")
    if name not in metrics and metrics.get("families"):  # several families: an unprefixed name is the first one's
        name = f"{metrics['families'][0]}_{name}"
    if not isinstance(metrics.get(name), int | float):
        have = sorted(k for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool))
        raise ConfigError(f"optimized_metric={name!r} is not a metric of this run; it has {have}")
    return float(metrics[name])


def run_experiment(cfg: DictConfig) -> dict[str, Any] | None:
    """Validate the config, build the data, train and measure every model of the design's plan, estimate,
    report. Returns the metrics (None on DDP ranks > 0, which only train). See ``RunLifecycle`` for the
    run directory's status and ``resume=true``."""
    check_known_keys(cfg, TrainConfig)  # a `+key=value` Hydra let through, misspelt, would be dropped unread
    check_model_option(cfg)
    absolute_paths(cfg)  # the saved config names the same files from any directory
    if run_options(cfg).print_config and distributed.is_global_zero():
        print(OmegaConf.to_yaml(cfg, resolve=True), flush=True)
    done = skip_if_complete(cfg)
    if done is not None:
        return done
    with RunLifecycle(run_options(cfg)) as life:
        settings = load_settings(cfg)
        settings.hardware.configure()
        loggers = life.start_loggers(settings.make_loggers())
        with step(f"data: {type(settings.data.source).__name__}, splits and zero-shot sets"):
            data = apply_removal(build_data(settings.data), settings.mitigation, life.run, life.is_zero)
        log.info("data: %d pairs; S_S %d, S_C %d, S_I %d, S_E %d", len(data.table), *(
            len(getattr(data.manifest, name)) for name in ("shared", "candidate", "independent", "extra")))
        if life.resume:  # continue with the partitions the finished models were planned with
            data = data.with_saved_groups(SplitManifest.read(life.run.splits))
        data_metrics = record_data(data, life.run, life.resume, life.is_zero, loggers)
        plan = run_plan(settings, data.manifest)
        check_plan_steps(plan, data, getattr(settings.design, "folds", None))
        recipe = with_min_steps(settings.recipe, plan, data.batch_size, settings.audit.min_steps,
                                settings.hardware.batch_processes()) if settings.audit.enabled else settings.recipe
        at_once = settings.hardware.models_side_by_side(len(plan.specs), bool(recipe.make_callbacks()),
                                                        launcher_config())
        setup = FitSetup(recipe, settings.scoring, settings.eval_device(), settings.families, life.resume, at_once,
                         settings.data.cache_dir)
        fitted = fit_plan(plan, data, setup, life.run, loggers)
        if not life.is_zero:
            life.finish_other_rank()
            return None
        curves = analyse(settings, plan, data, life.run, life.run)
        extra = {"seed": settings.seed, "manifest_sha256": data.manifest.sha256, **data_metrics,
                 **epoch_metrics(settings.recipe, recipe)}
        ctx = RunContext(settings, data, plan, life.run, life.run, loggers)
        metrics = estimate_and_report(ctx, fitted, extra, curves=curves,
                                      audit=AuditRequest(settings.audit, settings.data.source, settings.base_weights))
        life.complete(metrics, {name: model.seconds for name, model in fitted.items()})
        print(format_summary(metrics, life.run.root, tracking.sync_commands(loggers)), flush=True)
        return metrics
