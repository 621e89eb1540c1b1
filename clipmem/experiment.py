"""The CLIPMem experiment: split → train g → train f → score → report (method.md §2–3)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from clipmem import distributed, hardware
from clipmem.callbacks import CLIPMemCallback, LinearProbeCallback, RetrievalCallback, ZeroShotCallback
from clipmem.config import config_fingerprint, instantiate_checked, training_config
from clipmem.data.datamodule import CLIPMemDataModule
from clipmem.data.run_files import write_data_files
from clipmem.data.splits import SplitManifest
from clipmem.errors import ConfigError
from clipmem.mitigations import data_config, module_kwargs, validate
from clipmem.mitigations.remove_topk import select_removal, write_removal
from clipmem.models.local_dir import load_local_dir, save_local_dir
from clipmem.models.module import CLIPModule
from clipmem.reporting import tracking
from clipmem.reporting.summary import format_summary
from clipmem.results import compute_results
from clipmem.rundir import RunDir, failure_details
from clipmem.scoring.compat import _differences, check_pair, ids_sha256
from clipmem.scoring.pipeline import ScoringConfig

log = logging.getLogger(__name__)
LAST_CHECKPOINT = "last"


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _validate(cfg: DictConfig) -> None:
    validate(cfg.mitigation)


def build_datamodule(cfg: DictConfig) -> CLIPMemDataModule:
    """The data module of ``cfg.data`` with the mitigation's data-side changes (the same for f and g)."""
    return instantiate_checked(data_config(cfg.data, cfg.mitigation))


def apply_removal(cfg: DictConfig, dm: CLIPMemDataModule, run: RunDir) -> None:
    """``remove_topk``: drop the chosen ids from the split and record them in ``removed.csv``."""
    spec = validate(cfg.mitigation)
    if spec["name"] != "remove_topk":
        return
    removal = select_removal(spec["scores"], dm.build(), spec["n"], spec["ranking"], int(spec.get("seed", cfg.seed)),
                             spec.get("similarity_column", "align_f"))
    dm.apply_removal(removal.ids)
    write_removal(run.removed, removal)
    log.info("remove_topk: %d candidates (%s) and %d independent pairs left out", len(removal.candidate),
             removal.ranking, len(removal.independent))


def build_callbacks(cfg: DictConfig, role: str, run: RunDir) -> list[L.Callback]:
    """Evaluation callbacks from ``cfg.callbacks`` (+ a checkpoint callback when ``cfg.checkpoints``)."""
    spec = cfg.get("callbacks") or {}
    callbacks: list[L.Callback] = []
    if spec.get("zeroshot"):
        callbacks.append(ZeroShotCallback(**_plain(spec.zeroshot)))
    if spec.get("retrieval"):
        callbacks.append(RetrievalCallback(**_plain(spec.retrieval)))
    if spec.get("linear_probe"):
        callbacks.append(LinearProbeCallback(**_plain(spec.linear_probe)))
    if spec.get("clipmem") and role == "f":
        callbacks.append(CLIPMemCallback(run.model("g"), ScoringConfig(**_plain(cfg.scoring)), **_plain(spec.clipmem)))
    if cfg.get("checkpoints", False):  # last.ckpt, rewritten after every epoch (what resume=true continues from)
        callbacks.append(ModelCheckpoint(dirpath=run.checkpoints(role), filename=LAST_CHECKPOINT, save_top_k=1,
                                         every_n_epochs=1, enable_version_counter=False))
    return callbacks


def _model_meta(cfg: DictConfig, dm: CLIPMemDataModule, role: str, global_step: int) -> dict[str, Any]:
    return {
        "role": role,
        "manifest_sha256": dm.manifest.sha256,
        "train_ids_sha256": ids_sha256(dm.manifest.train_ids(role)),
        "global_step": int(global_step),
        "training_config": training_config(cfg),
    }


def finished_model(cfg: DictConfig, dm: CLIPMemDataModule, role: str, run: RunDir) -> bool:
    """True when ``models/<role>`` holds a model trained by this config on this split (resume skips it)."""
    meta_path = run.model(role) / "clipmem_meta.json"
    if not (run.model(role) / "open_clip_model.safetensors").is_file() or not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    expected = _model_meta(cfg, dm, role, meta.get("global_step", -1))
    differing = _differences(meta.get("training_config"), expected["training_config"])
    if differing or meta.get("manifest_sha256") != expected["manifest_sha256"]:
        raise ConfigError(
            f"resume: {meta_path} was trained with another config (differs at {', '.join(differing[:8]) or 'splits'});"
            " resume with the run's original overrides"
        )
    return meta.get("train_ids_sha256") == expected["train_ids_sha256"]


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest of ``last.ckpt`` (every epoch) and Lightning's SLURM ``hpc_ckpt_*.ckpt`` (on requeue)."""
    found = [p for p in (directory / f"{LAST_CHECKPOINT}.ckpt", *directory.glob("hpc_ckpt_*.ckpt")) if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def train_model(cfg: DictConfig, dm: CLIPMemDataModule, role: str, run: RunDir, logger,
                resume: bool = False) -> tuple[CLIPModule, list]:
    """Train model ``role`` from the seeded initialisation and save it in local-dir format.

    f and g start from identical weights (same seed) and take the same number of steps; only their
    training sets differ. With ``resume`` and a ``checkpoints/<role>/last.ckpt``, training continues
    from it (data order, caption draws and crops are keyed by epoch/step, so the result is the same
    as without the interruption). Returns the module and the CLIPMem history logged by f's callback.
    """
    L.seed_everything(cfg.seed, workers=True)
    module: CLIPModule = instantiate_checked(cfg.model, log_prefix=f"{role}/", **module_kwargs(cfg.mitigation))
    dm.set_role(role)
    callbacks = build_callbacks(cfg, role, run)
    trainer = L.Trainer(
        **_plain(cfg.trainer),
        **hardware.trainer_kwargs(_plain(cfg.hardware), distributed.sweep_job_num()),
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        default_root_dir=str(run.checkpoints(role)),  # per role: SLURM's hpc_ckpt_*.ckpt must not cross f/g
        enable_checkpointing=bool(cfg.get("checkpoints", False)),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # the datamodule's EpochSampler shards the global batches itself
    )
    checkpoint = latest_checkpoint(run.checkpoints(role)) if resume else None
    ckpt_path = str(checkpoint) if checkpoint is not None else None
    log.info("training %s on %d pairs%s", role, len(dm.manifest.train_ids(role)),
             f" (resuming from {checkpoint})" if ckpt_path else "")
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    if trainer.is_global_zero:
        save_local_dir(module.clip, module.model_cfg, run.model(role), _model_meta(cfg, dm, role, trainer.global_step))
    trainer.strategy.barrier("clipmem-model-saved")  # other ranks read g's weights right after
    history = next((c.history for c in callbacks if isinstance(c, CLIPMemCallback)), [])
    return module, history


def completed_metrics(run: RunDir, fingerprint: str) -> dict[str, Any] | None:
    """The metrics of ``run`` if it already completed with the config whose fingerprint is given, else None."""
    status = run.read_status()
    if status.get("state") != "complete" or not run.metrics.is_file():
        return None
    if status.get("config_sha256") != fingerprint:
        log.warning("%s holds a complete run of a different config; training again and replacing it", run.root)
        return None
    return json.loads(run.metrics.read_text())


def _wandb_settings(cfg: DictConfig) -> dict[str, Any] | None:
    """``cfg.logger.wandb`` plus, in a Hydra multirun, a group shared by the sweep and a per-job type/name."""
    settings = _plain(cfg.logger.get("wandb")) if cfg.get("logger") else None
    job = distributed.hydra_job()
    if not settings or job is None:
        return settings
    overrides = ",".join(job["overrides"]) or "defaults"
    return {
        **settings,
        "group": settings.get("group") or f"{cfg.name}-{Path(job['sweep_dir']).name}",
        "job_type": settings.get("job_type") or overrides[:64],
        "run_name": f"{cfg.name}/{job['num']}:{overrides}"[:128],
    }


def _scoring_device(hw: dict[str, Any]):
    """Where rank 0 scores: the GPU this job trained on (``gpu_per_job`` sweeps included), or the CPU."""
    devices = hardware.trainer_kwargs(hw, distributed.sweep_job_num()).get("devices")
    return hardware.eval_device(hw.get("accelerator", "auto"), devices)


def _prepare_run_dir(cfg: DictConfig, run: RunDir, resume: bool) -> None:
    """Refuse to reuse a run directory silently; on resume, require the run's split manifest."""
    if resume:
        if run.status.is_file() and not run.splits.is_file():
            raise ConfigError(f"resume=true: {run.root} stopped before its splits were drawn (no splits.json); "
                              "start it again without resume=true in a new run directory")
        return  # resume=true on a directory that holds no run yet (e.g. a sweep job not reached) starts afresh
    if run.status.is_file():
        state = json.loads(run.status.read_text()).get("state")
        raise ConfigError(
            f"run_dir={run.root} already holds a run (status {state!r}); pass resume=true to continue it, "
            "or leave run_dir unset for a new directory"
        )


def run_experiment(cfg: DictConfig) -> dict[str, Any]:
    """Run the whole experiment into ``cfg.run_dir`` and return its metrics.

    The run directory's ``status.json`` says ``running`` until metrics.json is written, then
    ``complete`` (with the config's fingerprint); a failure leaves ``failed`` with the error, and no
    metrics.json. With ``skip_completed`` (default) a run directory that already completed with the same
    config is not trained again: its metrics are returned, and no file is touched. Under DDP every
    rank runs this function; only global rank 0 writes to the run directory, and the other ranks
    return None after waiting for rank 0's results at a barrier. ``resume=true`` continues an
    interrupted run: finished models are kept, unfinished ones continue from their last checkpoint.
    """
    run = RunDir(cfg.run_dir)
    fingerprint = config_fingerprint(cfg)
    if cfg.get("skip_completed", True):
        done = completed_metrics(run, fingerprint)
        if done is not None:
            log.info("skipping %s: already complete with the same config", run.root)
            if distributed.is_global_zero():
                print(f"clipmem: skipped {run.root}: already complete with the same config", flush=True)
            return done
    started = time.monotonic()
    resume = bool(cfg.get("resume", False)) or distributed.slurm_requeued()
    resume = resume and run.splits.is_file()  # nothing to continue from: start afresh
    zero = distributed.is_global_zero()
    logger = None
    exit_code = 1
    if zero:
        _prepare_run_dir(cfg, run, bool(cfg.get("resume", False)) or resume)  # outside the try: keeps its status
    try:
        if zero:
            run.root.mkdir(parents=True, exist_ok=True)
            run.write_status("running", resumed=resume)
        _validate(cfg)
        hw = _plain(cfg.hardware)
        mode = "MULTIRUN" if distributed.hydra_job() is not None else "RUN"
        distributed.check_launch(hw.get("strategy", "auto"), hw.get("devices", 1), mode)
        distributed.pin_hydra_run_dir(str(run.root.resolve()))
        if zero and not run.config.is_file():  # Hydra writes it for CLI runs; tests calling us directly get one too
            run.config.parent.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(cfg, run.config)
        hardware.configure(hw)
        # The W&B run starts before the data, so a job that fails on its data shows up (failed) in its group.
        logger = tracking.build_wandb_logger(_wandb_settings(cfg), run.root, cfg.name, _plain(cfg))
        dm = build_datamodule(cfg)
        dm.build()
        apply_removal(cfg, dm, run)
        if resume:
            dm.check_manifest(SplitManifest.read(run.splits), str(run.splits))
        elif zero:
            dm.write_manifest(run.splits)
        data_metrics = write_data_files(run.root, dm) if zero else {}  # skipped_samples.csv, sample_keys.csv
        if zero:
            tracking.log_file(logger, run.splits, "splits", "split-manifest")

        if not (resume and finished_model(cfg, dm, "g", run)):
            train_model(cfg, dm, "g", run, logger, resume)
        else:
            log.info("resume: g is finished (%s), not retrained", run.model("g"))
        module_f, history = train_model(cfg, dm, "f", run, logger, resume)
        if not zero:
            distributed.barrier()  # wait while rank 0 scores and reports
            return None
        model_g, _, _ = load_local_dir(run.model("g"))
        metrics = compute_results(
            run, dm, module_f.clip, model_g, ScoringConfig(**_plain(cfg.scoring)), _plain(cfg.report),
            _scoring_device(hw), logger, history,
            {"seed": int(cfg.seed), "manifest_sha256": dm.manifest.sha256, **data_metrics},
        )
        run.write_status("complete", config_sha256=fingerprint, wall_s=round(time.monotonic() - started, 1))
        exit_code = 0
        print(format_summary(metrics, run.root), flush=True)
        distributed.barrier()
        return metrics
    except BaseException as err:
        if zero:
            run.write_status("failed", **failure_details(err))
        raise
    finally:
        if logger is not None:
            import wandb

            wandb.finish(exit_code=exit_code)  # a failed job is marked failed in W&B


def evaluate_run_dir(run_dir: str | Path, scoring_overrides: dict[str, Any] | None = None,
                     device: str = "auto", log_to_wandb: bool = False) -> dict[str, Any]:
    """Recompute scores.csv, metrics.json and report/ of a finished run from its saved models.

    The data and splits are rebuilt from the run's config and must hash to its splits.json; the
    models must pass ``check_pair``. ``scoring_overrides`` replace keys of the run's ``scoring``.
    """
    run = RunDir(run_dir)
    run.require_finished_models()
    cfg = OmegaConf.load(run.config)
    scoring = {**_plain(cfg.scoring), **(scoring_overrides or {})}
    manifest = SplitManifest.read(run.splits)
    dm = build_datamodule(cfg)
    if manifest.removed:  # remove_topk: the saved manifest is the record of what was left out
        dm.apply_removal(manifest.removed)
    dm.check_manifest(manifest, str(run.splits))
    data_metrics = write_data_files(run.root, dm)
    model_f, _, meta_f = load_local_dir(run.model("f"))
    model_g, _, meta_g = load_local_dir(run.model("g"))
    check_pair(meta_f, meta_g, manifest)
    target = hardware.eval_device(cfg.hardware.accelerator if device == "auto" else device)
    # CLIPMem across f's epochs can only be measured during training: carry it over, never drop it.
    history = json.loads(run.metrics.read_text()).get("clipmem_history") if run.metrics.is_file() else None
    logger = None
    if log_to_wandb and cfg.get("logger") and cfg.logger.get("wandb"):
        logger = tracking.build_wandb_logger(_plain(cfg.logger.wandb), run.root, f"{cfg.name}-evaluate", _plain(cfg))
    try:
        metrics = compute_results(
            run, dm, model_f, model_g, ScoringConfig(**scoring), _plain(cfg.report), target, logger, history,
            extra_metrics={"seed": int(cfg.seed), "manifest_sha256": manifest.sha256, **data_metrics},
        )
    finally:
        if logger is not None:
            import wandb

            wandb.finish()
    print(format_summary(metrics, run.root), flush=True)
    return metrics


def evaluate_sweep_dir(sweep_dir: str | Path) -> dict[str, Any]:
    """Write sweep_results.csv/.md and the sweep plots into ``sweep_dir``; print which jobs did not complete."""
    from clipmem.reporting.sweep import aggregate_sweep, format_sweep_summary

    report = aggregate_sweep(sweep_dir)
    print(format_sweep_summary(Path(sweep_dir), report.records), flush=True)
    written = [report.table_csv, report.table_md, *(p for p in report.plots.values() if p is not None)]
    print("  wrote " + ", ".join(p.name for p in written), flush=True)
    return {"jobs": len(report.records), "complete": len(report.records) - len(report.failed),
            "not_complete": [r.job for r in report.failed]}


def evaluate_entry(run_dir: str | None, sweep_dir: str | None, scoring_overrides: dict[str, Any] | None = None,
                   device: str = "auto", log_to_wandb: bool = False) -> dict[str, Any]:
    """What ``evaluate.py`` does: exactly one of ``run_dir`` (re-score one run) or ``sweep_dir`` (tabulate)."""
    if (run_dir is None) == (sweep_dir is None):
        given = "both" if run_dir is not None else "neither"
        raise ConfigError(f"evaluate.py needs exactly one of run_dir=<run directory> or sweep_dir=<multirun "
                          f"directory>; got {given}")
    if sweep_dir is not None:
        if scoring_overrides:
            raise ConfigError(f"scoring.* overrides apply to run_dir=..., not sweep_dir=... (got {scoring_overrides})")
        return evaluate_sweep_dir(sweep_dir)
    return evaluate_run_dir(run_dir, scoring_overrides, device, log_to_wandb)
