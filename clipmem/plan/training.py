"""Train one model of a plan (or find it finished) and save it in open_clip's local-dir format."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from clipmem.callbacks.clipmem import CLIPMemCallback
from clipmem.callbacks.progress import EpochBar, EpochLog
from clipmem.data.experiment_data import ExperimentData
from clipmem.data.splits.near_duplicates import HASHES_FILE, save_hashes
from clipmem.errors import ConfigError
from clipmem.families.base import trainer_overrides
from clipmem.families.clip import CLIPFamily
from clipmem.plan.checks import check_trained, epochs_for_steps
from clipmem.plan.spec import ModelSpec, Plan
from clipmem.progress import interactive
from clipmem.rundir import LAST_CHECKPOINT, RunDir
from clipmem.scoring.compat import differences, ids_sha256
from clipmem.scoring.config import ScoringConfig
from clipmem.scoring.statistics import SampleStatistics, load_statistics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingRecipe:
    """How every model of a plan is trained; built from the config by ``clipmem.config.settings``.

    build_module: ``(log_prefix=...) -> CLIPModule``, the model config with the mitigation's noise bound (a
        family other than CLIP builds its own module from the same arguments).
    trainer_kwargs: ``lightning.Trainer`` arguments (``trainer`` section plus hardware).
    make_callbacks: fresh callbacks for one model (``callbacks`` section).
    checkpoints: keep ``checkpoints/<model>/last.ckpt`` (what ``resume=true`` continues from).
    training_config: the resolved training sections, stored with each model and compared on reuse.
    """

    build_module: Callable[..., Any]
    trainer_kwargs: dict[str, Any]
    make_callbacks: Callable[[], list[L.Callback]]
    checkpoints: bool
    training_config: dict[str, Any] = field(default_factory=dict)


def with_min_steps(recipe: TrainingRecipe, plan: Plan, batch_size: int, min_steps: int, processes: int = 1
                   ) -> TrainingRecipe:
    """``recipe`` with ``max_epochs`` raised so that every model of ``plan`` takes at least ``min_steps`` optimizer
    steps (``epochs_for_steps``, with ``processes`` data-parallel processes and the recipe's
    ``accumulate_grad_batches``), in the trainer's arguments and in the training record saved with each model;
    ``recipe`` itself when the epochs already give them (or none are set)."""
    epochs = recipe.trainer_kwargs.get("max_epochs")
    if epochs is None:
        return recipe
    accumulate = int(recipe.trainer_kwargs.get("accumulate_grad_batches") or 1)
    needed = epochs_for_steps(plan, batch_size, int(epochs), min_steps, processes, accumulate)
    if needed == int(epochs):
        return recipe
    log.info("trainer.max_epochs %d -> %d: each model takes at least %d optimizer steps (audit.min_steps)", epochs,
             needed, min_steps)
    trainer = {**(recipe.training_config.get("trainer") or {}), "max_epochs": needed}
    return replace(recipe, trainer_kwargs={**recipe.trainer_kwargs, "max_epochs": needed},
                   training_config={**recipe.training_config, "trainer": trainer})


def epoch_metrics(configured: TrainingRecipe, used: TrainingRecipe) -> dict[str, int]:
    """metrics.json's ``max_epochs`` the models trained for, and ``max_epochs_configured`` where ``with_min_steps``
    raised it (nothing when no epochs are set)."""
    epochs, given = used.trainer_kwargs.get("max_epochs"), configured.trainer_kwargs.get("max_epochs")
    if epochs is None:
        return {}
    return {"max_epochs": int(epochs), **({"max_epochs_configured": int(given)} if given != epochs else {})}


@dataclass(frozen=True)
class TrainingContext:
    """What a callback may need about the model it watches (``bind(context)``); ``family`` is the model's
    family object (``clipmem.families``), which builds, saves, scores and measures it."""

    spec: ModelSpec
    plan: Plan
    data: ExperimentData
    scoring: ScoringConfig
    run: RunDir
    statistics_key: str
    family: Any = field(default_factory=CLIPFamily)

    @property
    def scored_ids(self) -> tuple[int, ...]:
        return self.plan.scored_ids

    def reference_statistics(self) -> SampleStatistics | None:
        """The saved statistics of ``spec.reference`` under this scoring config, or None."""
        if self.spec.reference is None:
            return None
        path = self.run.statistics(self.spec.reference, self.statistics_key)
        return load_statistics(path) if path.is_file() else None

    def reference_sign(self) -> torch.Tensor:
        """(N,) per scored sample: +1 where this model trained on it and its reference did not, −1 for the
        reverse, 0 where both or neither did (no in/out contrast there)."""
        ids = torch.tensor(self.plan.scored_ids, dtype=torch.int64)
        mine = torch.isin(ids, torch.tensor(self.spec.train_ids, dtype=torch.int64))
        theirs = torch.isin(ids, torch.tensor(self.plan.spec(self.spec.reference).train_ids, dtype=torch.int64))
        return mine.long() - theirs.long()


def model_meta(spec: ModelSpec, data: ExperimentData, recipe: TrainingRecipe, global_step: int,
               history: list[dict] | None = None, family: Any = None) -> dict[str, Any]:
    """Provenance stored as ``clipmem_meta.json`` beside a model (checked before it is scored or reused),
    with the CLIPMem curve its callback measured during training (``clipmem_history``) and, for families other
    than CLIP, the family's own settings (``family_config``)."""
    described = family.describe() if family is not None else {}
    return {
        "role": spec.name,
        "family": spec.family,
        "seed": spec.seed,
        "manifest_sha256": data.manifest.sha256,
        "train_ids_sha256": ids_sha256(spec.train_ids),
        "global_step": int(global_step),
        "training_config": recipe.training_config,
        "clipmem_history": list(history or []),
        **({"family_config": described} if described else {}),
    }


def finished_model(spec: ModelSpec, data: ExperimentData, recipe: TrainingRecipe, run: RunDir,
                   family: Any = None) -> bool:
    """True when ``models/<name>`` holds a model trained by this recipe (and ``family``) on this split (resume
    keeps it)."""
    meta_path = run.model_meta(spec.name)
    if not run.model_weights(spec.name).is_file() or not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text())
    differing = differences(meta.get("training_config"), recipe.training_config)
    differing += differences(meta.get("family_config", {}), family.describe() if family is not None else {},
                             "families")
    if differing or meta.get("manifest_sha256") != data.manifest.sha256:
        raise ConfigError(
            f"resume: {meta_path} was trained with another config (differs at {', '.join(differing[:8]) or 'splits'});"
            " resume with the run's original overrides"
        )
    return meta.get("train_ids_sha256") == ids_sha256(spec.train_ids)


def save_training_hashes(data: ExperimentData, train_ids: tuple[int, ...], folder: Path) -> None:
    """``train_images.safetensors`` beside a saved model: hashes of the images it trained on, so that a later audit
    starting from it can tell which of its own pairs the model has seen (docs/audit.md, "A base model")."""
    hashes = data.hashes_of(train_ids)
    if hashes is not None:
        folder.mkdir(parents=True, exist_ok=True)
        save_hashes(folder / HASHES_FILE, hashes)


def latest_checkpoint(directory: Path) -> Path | None:
    """The newest of ``last.ckpt`` (every epoch) and Lightning's SLURM ``hpc_ckpt_*.ckpt`` (on requeue)."""
    found = [p for p in (directory / f"{LAST_CHECKPOINT}.ckpt", *directory.glob("hpc_ckpt_*.ckpt")) if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _callbacks(recipe: TrainingRecipe, context: TrainingContext) -> list[L.Callback]:
    callbacks = recipe.make_callbacks()
    for callback in callbacks:
        if hasattr(callback, "bind"):
            callback.bind(context)
    callbacks.append(EpochLog(context.spec.name))
    if interactive() and recipe.trainer_kwargs.get("enable_progress_bar", True):
        callbacks.append(EpochBar(context.spec.name))
    if recipe.checkpoints:  # last.ckpt, rewritten after every epoch (what resume=true continues from)
        callbacks.append(ModelCheckpoint(dirpath=context.run.checkpoints(context.spec.name), filename=LAST_CHECKPOINT,
                                         save_top_k=1, every_n_epochs=1, enable_version_counter=False))
    return callbacks


def train_model(context: TrainingContext, recipe: TrainingRecipe, loggers: list, resume: bool = False,
                peers: list[tuple[int, ...]] | None = None) -> tuple[Any, list[dict]]:
    """Train ``context.spec`` from its seeded initialisation and save it in local-dir format.

    Models of a plan start from identical weights when their seeds agree and take the same number of
    steps; only their training ids differ. With ``resume`` and a ``checkpoints/<name>/last.ckpt``, training
    continues from it (data order, caption draws and crops are keyed by epoch/step, so the result is the
    same as without the interruption). Returns the module and the CLIPMem history its callback logged.
    """
    spec, run = context.spec, context.run
    L.seed_everything(spec.seed, workers=True)
    module = context.family.build_module(recipe.build_module, context.data, f"{spec.name}/")
    callbacks = _callbacks(recipe, context)
    trainer = L.Trainer(
        **{**recipe.trainer_kwargs, **trainer_overrides(context.family),
           **({} if interactive() else {"enable_progress_bar": False}),  # log lines instead of a bar
           **({} if context.data.manifest.extra else {"limit_val_batches": 0})},  # nothing held out: no validation
        logger=list(loggers) or False,
        callbacks=callbacks,
        default_root_dir=str(run.checkpoints(spec.name)),  # per model: SLURM's hpc_ckpt_*.ckpt must not cross
        enable_checkpointing=recipe.checkpoints,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,  # the datamodule's EpochSampler shards the global batches itself
    )
    checkpoint = latest_checkpoint(run.checkpoints(spec.name)) if resume else None
    log.info("training %s on %d pairs%s", spec.name, len(spec.train_ids),
             f" (resuming from {checkpoint})" if checkpoint else "")
    datamodule = context.family.datamodule(context.data, spec.train_ids, spec.seed, peers)
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(checkpoint) if checkpoint else None)
    check_trained(spec.name, trainer.global_step, trainer.max_epochs)
    history = next((c.history for c in callbacks if isinstance(c, CLIPMemCallback)), [])
    if trainer.is_global_zero:
        save_training_hashes(context.data, spec.train_ids, run.model(spec.name))  # before the model's record
        context.family.save(module, run.model(spec.name),
                            model_meta(spec, context.data, recipe, trainer.global_step, history, context.family))
    trainer.strategy.barrier("clipmem-model-saved")  # other ranks read the weights right after
    return module, history
