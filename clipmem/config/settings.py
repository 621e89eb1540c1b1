"""The config layer: the composed Hydra config → validated objects, before anything trains.

This is the one place (with the entry points) that reads raw ``cfg.`` keys. ``run_options`` reads what the
run's bookkeeping needs and cannot fail; ``load_settings`` instantiates and checks every group (model, data,
mitigation, design, hardware, scoring, report, callbacks, logger, trainer) and raises a one-line
``ConfigError`` naming the key and the allowed values at the first problem.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from clipmem import distributed
from clipmem.analysis.config import AnalysisConfig
from clipmem.audit.config import AuditConfig
from clipmem.config.fingerprint import config_fingerprint, plain, training_config
from clipmem.config.instantiate import entries, instantiate_checked, instantiate_entries
from clipmem.data.reference import check_reference_families
from clipmem.data.settings import DataSettings, whole_number
from clipmem.data.sources.base import features_of
from clipmem.errors import ConfigError
from clipmem.families import default_families
from clipmem.hardware import HardwareSettings
from clipmem.mitigations.base import Mitigation
from clipmem.models.image_encoder import check_uncropped, image_encoder_of
from clipmem.plan.designs import Design
from clipmem.plan.training import TrainingRecipe
from clipmem.reporting.config import ReportConfig
from clipmem.reporting.tracking import check_logger
from clipmem.scoring.config import ScoringConfig

log = logging.getLogger("clipmem")

# Trainer arguments the run sets itself (from `hardware` or per model); `trainer.*` may not set them.
RESERVED_TRAINER_KEYS = ("logger", "callbacks", "default_root_dir", "enable_checkpointing", "enable_model_summary",
                         "num_sanity_val_steps", "use_distributed_sampler", "accelerator", "devices", "num_nodes",
                         "strategy", "precision", "deterministic", "plugins")


@dataclass(frozen=True)
class RunOptions:
    """What the run's bookkeeping needs (``clipmem.run.lifecycle``), read before any validation."""

    run_dir: Path
    name: str
    resume: bool
    skip_completed: bool
    fingerprint: str
    config: DictConfig
    optimized_metric: str = "clipmem_raw_mean"
    print_config: bool = False


def run_options(cfg: DictConfig) -> RunOptions:
    return RunOptions(run_dir=Path(cfg.run_dir), name=str(cfg.name), resume=bool(cfg.resume),
                      skip_completed=bool(cfg.skip_completed), fingerprint=config_fingerprint(cfg), config=cfg,
                      optimized_metric=str(cfg.get("optimized_metric") or "clipmem_raw_mean"),
                      print_config=bool(cfg.get("print_config", False)))


OBJECTIVES = re.compile(r"(clipmem_raw_mean|clipmem_mean|clipmem_median|miscaption_auc|mislabel_auc|atypical_auc|"
                        r"(val_loss|zeroshot_top[15]|linear_probe_top1|retrieval_(i2t|t2i)_r[15])_\w+)")
OBJECTIVES_TEXT = ("clipmem_raw_mean, clipmem_mean, clipmem_median, miscaption_auc, mislabel_auc, atypical_auc, or "
                   "<metric>_<model> with <metric> in val_loss, zeroshot_top1, zeroshot_top5, linear_probe_top1, "
                   "retrieval_i2t_r1, retrieval_t2i_r1 (or _r5) and <model> a model of the plan (f, g) or mean; with "
                   "several families, optionally prefixed by one (ssl_atypical_auc)")


def check_objective(name: str, data: DataSettings, families: tuple[str, ...] = ("clip",)) -> str:
    """``optimized_metric`` names a metric this run will have (optionally prefixed by one of the run's ``families``):
    one line naming the allowed ones otherwise."""
    family = next((f for f in families if name.startswith(f"{f}_")), None)
    if not OBJECTIVES.fullmatch(name if family is None else name[len(family) + 1:]):
        raise ConfigError(f"optimized_metric must be {OBJECTIVES_TEXT}; got {name!r}")
    if name.endswith("miscaption_auc") and not data.miscaption["fraction"]:
        raise ConfigError("optimized_metric=miscaption_auc needs injected mis-captions; data.miscaption.fraction is 0")
    if ("zeroshot_top" in name or "linear_probe" in name) and not data.zeroshot:
        raise ConfigError(f"optimized_metric={name} needs a zero-shot set; data.zeroshot is empty "
                          "(add one: +zeroshot@data.zeroshot.<name>=imagefolder)")
    return name


@dataclass(frozen=True)
class ExperimentSettings:
    """Every group of the config as validated objects; ``data`` already carries the mitigation's changes;
    ``families``: family name -> family object (``clipmem.families``), the CLIP family alone by default."""

    seed: int
    data: DataSettings
    mitigation: Mitigation
    design: Design
    recipe: TrainingRecipe
    scoring: ScoringConfig
    report: ReportConfig
    audit: AuditConfig
    hardware: HardwareSettings
    logger_configs: dict[str, Any]
    families: dict[str, Any] = field(default_factory=default_families)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def make_loggers(self, **wandb_changes: Any) -> list:
        """Fresh loggers from ``logger`` (W&B, CSV, ...); entries that decline (mode=disabled) are left out.
        ``wandb_changes`` override arguments of the W&B entry only (evaluate.py: save_dir, group, job_type)."""
        made = []
        for name, entry in entries(self.logger_configs, "logger").items():
            changes = wandb_changes if str(entry["_target_"]).endswith("tracking.wandb_logger") else {}
            logger = instantiate_checked(entry, f"logger.{name}", **changes)
            if logger is not None:
                made.append(logger)
        return made

    @property
    def base_weights(self) -> str | None:
        """``model.pretrained``: the weights every model starts from (None: a seeded random initialisation)."""
        return (self.recipe.training_config.get("model") or {}).get("pretrained")

    def eval_device(self) -> torch.device:
        return self.hardware.eval_device(distributed.sweep_job_num())


def check_missing(cfg: DictConfig) -> None:
    """One line naming every mandatory value (``???``) left unset."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be set (it is ??? in the config); "
                          f"e.g. `python train.py {missing[0]}=<value>`")


# Trainer arguments checked by value before anything loads: the smallest whole number each takes (None allowed
# where Lightning allows it). max_epochs=-1 would train forever: clipmem refuses it.
TRAINER_COUNTS = {"max_epochs": (1, False), "min_epochs": (0, True), "max_steps": (-1, False),
                  "min_steps": (0, True), "check_val_every_n_epoch": (1, True), "log_every_n_steps": (1, True),
                  "accumulate_grad_batches": (1, False)}


def check_trainer(trainer: dict[str, Any]) -> dict[str, Any]:
    """``trainer`` keys must be ``lightning.Trainer`` arguments the run does not set itself, and the counts among them
    (``TRAINER_COUNTS``) whole numbers in range, so that a typo stops the run before any data is loaded."""
    allowed = set(inspect.signature(L.Trainer.__init__).parameters) - {"self", *RESERVED_TRAINER_KEYS}
    for key in trainer:
        if key in RESERVED_TRAINER_KEYS:
            raise ConfigError(f"trainer.{key} is set by the run (hardware.* or per model); set it there instead")
        if key not in allowed:
            raise ConfigError(f"trainer.{key} is not a lightning.Trainer argument; allowed: {sorted(allowed)}")
    for key, (minimum, optional) in TRAINER_COUNTS.items():
        if key in trainer and not (optional and trainer[key] is None):
            trainer[key] = whole_number(trainer[key], f"trainer.{key}", minimum)
    clip = trainer.get("gradient_clip_val")
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, int | float) or clip < 0):
        raise ConfigError(f"trainer.gradient_clip_val must be a number ≥ 0 or null, got {clip!r}")
    return trainer


def check_seed(seed: Any) -> int:
    """``seed``: a whole number in [0, 2**32 − 1] (what numpy and Lightning accept)."""
    value = whole_number(seed, "seed", 0)
    if value > 2**32 - 1:
        raise ConfigError(f"seed must be ≤ {2**32 - 1}, got {seed!r}")
    return value


FROM_SCRATCH_LR = 5e-4  # at or above this, a pretrained start is likely to be trained away (docs/configuration.md)


def warn_scratch_rate(model: Any) -> None:
    """A pretrained start trained at a from-scratch learning rate loses what it knew: say so (a warning, not an
    error: a user may mean it)."""
    lr = (model.get("optimizer") or {}).get("lr")
    if model.get("pretrained") and isinstance(lr, int | float) and lr >= FROM_SCRATCH_LR:
        log.warning("model.pretrained=%s starts from trained weights, but model.optimizer.lr=%g is a from-scratch "
                    "rate; fine-tuning usually takes 10-100 times less (finetune=default sets a fine-tuning recipe: "
                    "docs/configuration.md, \"Fine-tuning\")", model.get("pretrained"), lr)


def check_optimizer(section: Any) -> None:
    """Build ``model.optimizer`` over one dummy parameter: a negative learning rate, a beta outside [0, 1) or a
    wrong argument stops the run here, in one line."""
    if section is None:
        return
    optimizer = instantiate_checked(section, "model.optimizer")
    try:
        optimizer([torch.nn.Parameter(torch.zeros(1))])
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model.optimizer: {err}") from None


def build_recipe(cfg: DictConfig, mitigation: Mitigation, hardware: HardwareSettings,
                 families: dict[str, Any] | None = None) -> TrainingRecipe:
    """How every model trains: the model config (checked by building it, for every family, on the meta device),
    trainer arguments, callbacks (checked by building them once) and checkpointing."""
    build = instantiate_checked(cfg.model, "model", _partial_=True)
    build = functools.partial(build, noise=mitigation.embedding_noise())
    with torch.device("meta"):  # every argument checked, no memory, no RNG drawn
        instantiate_model_checked(build, families)
    check_optimizer(cfg.model.get("optimizer"))
    warn_scratch_rate(cfg.model)
    callbacks = cfg.get("callbacks")
    instantiate_entries(callbacks, "callbacks")
    trainer = check_trainer(plain(cfg.trainer) or {})
    if mitigation.embedding_noise() is not None and int(trainer.get("accumulate_grad_batches", 1)) > 1:
        raise ConfigError("trainer.accumulate_grad_batches > 1 with an embedding-noise mitigation: micro-batches "
                          "of one optimizer step would share a noise draw; use a larger data.batch_size instead")
    return TrainingRecipe(
        build_module=build,
        trainer_kwargs={**trainer, **hardware.trainer_kwargs(distributed.sweep_job_num())},
        make_callbacks=lambda: list(instantiate_entries(callbacks, "callbacks").values()),
        checkpoints=bool(cfg.checkpoints),
        training_config=training_config(cfg),
    )


def instantiate_model_checked(build: Any, families: dict[str, Any] | None = None) -> Any:
    """Build the model of every family from the model config (on the meta device: arguments checked only)."""
    try:
        for family in (families or default_families()).values():
            family.build_module(build, None, "")
    except TypeError as err:
        raise ConfigError(f"model: {err}") from None


def load_families(group: DictConfig | dict | None) -> dict[str, Any]:
    """``families``: name -> family object, each instantiated and checked; the CLIP family alone when unset.
    A family's key must be its name (``families.ssl`` holds the ssl family)."""
    made = instantiate_entries(group, "families")
    for key, family in made.items():
        if getattr(family, "name", None) != key:
            raise ConfigError(f"families.{key} holds the {getattr(family, 'name', type(family).__name__)!r} family; "
                              f"its key must be its name (families.{getattr(family, 'name', key)})")
    return made or default_families()


def check_logger_needs(cfg: DictConfig) -> None:
    """Callbacks that log (e.g. LearningRateMonitor) need a logger: say so before training."""
    needs_logger = [name for name, entry in entries(cfg.get("callbacks"), "callbacks").items()
                    if str(entry["_target_"]).endswith("LearningRateMonitor")]
    if needs_logger and not entries(cfg.get("logger"), "logger"):
        raise ConfigError(f"callbacks.{needs_logger[0]} logs to a logger, but logger=none; use logger=csv or "
                          "logger=wandb")


def check_held_out(design: Design, data: DataSettings, families: dict[str, Any]) -> None:
    """Designs that compare with held-out pairs need S_E; ``design=crossfit`` (no S_E) scores CLIP models only."""
    needs = getattr(design, "needs_held_out", True)
    if needs and data.splits["extra"] == 0:
        raise ConfigError(f"design={design.name} compares every pair with held-out pairs: data.splits.extra must be "
                          "≥ 1 (design=crossfit holds none out)")
    if not needs and set(families) != {"clip"}:
        raise ConfigError(f"design={design.name} scores CLIP models only; families are {sorted(families)}")


def check_audit(audit: AuditConfig, design: Design, data: DataSettings) -> None:
    """An audit needs every pair scored out of fold (design=crossfit), and clean.csv a CSV source."""
    if not audit.enabled:
        return
    if not getattr(design, "supports_audit", False):
        raise ConfigError(f"audit.enabled needs design=crossfit (every pair ranked by models that never saw it); "
                          f"design is {design.name!r}")
    if audit.write_clean and not features_of(data.source).csv_rows:
        raise ConfigError(f"audit.write_clean needs a CSV source (data=csv); {type(data.source).__name__} has "
                          "no rows to copy: use the sample ids of the flagged pairs in audit.csv instead")


def load_settings(cfg: DictConfig) -> ExperimentSettings:
    """Validate and instantiate the whole config (nothing is loaded or trained)."""
    check_missing(cfg)
    seed = check_seed(cfg.seed)
    scoring = ScoringConfig(**plain(cfg.scoring))
    report = ReportConfig(**plain(cfg.report))
    audit = AuditConfig(**plain(cfg.get("audit") or {}))
    hardware = instantiate_checked(cfg.hardware, "hardware")
    distributed.check_launch(hardware.strategy, hardware.devices,
                             "MULTIRUN" if distributed.hydra_job() is not None else "RUN")
    mitigation = instantiate_checked(cfg.mitigation, "mitigation")
    data = mitigation.configure_data(instantiate_checked(cfg.data, "data"))
    data.check_sources()
    design = instantiate_checked(cfg.design, "design")
    check_audit(audit, design, data)
    families = load_families(cfg.get("families"))
    check_objective(str(cfg.get("optimized_metric") or "clipmem_raw_mean"), data, tuple(families))
    check_held_out(design, data, families)
    check_reference_families(data.reference_path, families)
    recipe = build_recipe(cfg, mitigation, hardware, families)
    check_uncropped(data.augment, image_encoder_of(plain(cfg.model).get("arch")))
    for name, entry in entries(cfg.get("logger"), "logger").items():
        check_logger(instantiate_checked(entry, f"logger.{name}", _partial_=True))
    check_logger_needs(cfg)
    return ExperimentSettings(seed=seed, data=data, mitigation=mitigation, design=design, recipe=recipe,
                              scoring=scoring, report=report, audit=audit, hardware=hardware,
                              logger_configs=cfg.get("logger") or {}, families=families,
                              analysis=AnalysisConfig(**plain(cfg.get("analysis") or {})))
