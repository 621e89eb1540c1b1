"""Every model of a plan, in order: train (or reuse a finished one) → save → per-sample statistics and
utility saved beside it. What the estimator and the report read next."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from clipmem import distributed, interrupts
from clipmem.data.experiment_data import ExperimentData
from clipmem.families import default_families
from clipmem.io import atomic_write_json
from clipmem.models.image_encoder import image_encoder_of, warm_image_cache
from clipmem.models.sentence_text import sentence_encoder_of, warm_cache
from clipmem.plan.seeds import model_seed
from clipmem.plan.side_by_side import train_side_by_side
from clipmem.plan.spec import Plan
from clipmem.plan.training import TrainingContext, TrainingRecipe, finished_model, train_model
from clipmem.progress import PlanProgress, step
from clipmem.rundir import RunDir
from clipmem.scoring.config import ScoringConfig
from clipmem.scoring.statistics import (
    SampleStatistics,
    load_statistics,
    save_statistics,
    statistics_key,
)

log = logging.getLogger(__name__)


@dataclass
class FittedModel:
    """One trained model's results: its per-sample ``statistics``, ``utility`` (canonical metric names,
    see ``evaluation.utility``), the CLIPMem ``history`` measured while it trained, and ``seconds`` spent
    on ``train`` (absent when reused), ``statistics`` and ``utility``."""

    name: str
    statistics: SampleStatistics
    utility: dict[str, float]
    history: list[dict] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def measure_model(model: torch.nn.Module, context: TrainingContext, device: torch.device,
                  history: list[dict] | None = None) -> FittedModel:
    """Statistics and utility of ``model``, saved beside it (``sample_stats-<key>.safetensors``, utility.json)
    unless they are there already: a saved file is never overwritten, and a recomputation that differs from
    it is reported (the evaluation uses the recomputed values)."""
    name, run = context.spec.name, context.run
    model.to(device)
    family = context.family
    started = time.perf_counter()
    with step(f"{name}: per-sample statistics of {family.scored_label(len(context.scored_ids), context.scoring)}"):
        scorer = family.scorer(context.data, context.scored_ids, context.scoring, device)
        outside = context.plan.outside(name)
        stats = scorer.statistics(model) if outside is None else scorer.statistics(model, outside=outside)
    seconds = {"statistics": round(time.perf_counter() - started, 2)}
    path = run.statistics(name, context.statistics_key)
    if not path.is_file():
        meta = {"model": name, "scoring": dataclasses.asdict(context.scoring),
                "manifest_sha256": context.data.manifest.sha256,
                **({"family": family.scoring_config()} if family.scoring_config() is not None else {})}
        save_statistics(path, stats, meta)
    elif (gap := statistics_gap(load_statistics(path), stats)) != 0.0:
        log.warning("recomputed statistics of model %s differ from the saved %s by up to %.3g (other code, hardware "
                    "or thread count; ~1e-7 is float rounding); using the recomputed ones, the saved file is kept",
                    name, path, gap)
    started = time.perf_counter()
    with step(f"{name}: utility ({family.utility_label})"):
        utility = family.utility(model, context.data, device)
    seconds["utility"] = round(time.perf_counter() - started, 2)
    if not run.utility(name).is_file():
        atomic_write_json(run.utility(name), utility)
    return FittedModel(name, stats, utility, list(history or []), seconds)


def statistics_gap(a: SampleStatistics, b: SampleStatistics) -> float:
    """The largest absolute difference between two models' statistics (0.0: identical); inf when they cover
    other samples."""
    if not torch.equal(a.sample_ids, b.sample_ids):
        return math.inf
    fields = [(a.align, b.align), (a.contrast, b.contrast)]
    fields += [(x, y) for x, y in ((a.image, b.image), (a.text, b.text)) if x is not None and y is not None]
    gaps = [(x - y).abs().max() for x, y in fields if x.numel()]
    return max((float(g) for g in gaps), default=0.0)


def saved_history(run: RunDir, name: str) -> list[dict]:
    """The CLIPMem curve stored with a finished model (empty for models saved before it was stored)."""
    meta = json.loads(run.model_meta(name).read_text())
    return list(meta.get("clipmem_history") or [])


def unit_scoring(scoring: ScoringConfig, unit: int) -> ScoringConfig:
    """The scoring config of the models of resampling unit ``unit``: unit 0 keeps ``scoring`` (a one-unit plan such
    as the pair is scored as it always was); every other unit draws its own views, so that split halves of the units
    share no view (an estimate of the ranking's reliability would be inflated otherwise)."""
    if unit == 0:
        return scoring
    return dataclasses.replace(scoring, seed=model_seed(scoring.seed, "views", unit))


def contexts(plan: Plan, data: ExperimentData, scoring: ScoringConfig, run: RunDir,
             families: dict[str, Any] | None = None) -> list[TrainingContext]:
    """The training context of every model of ``plan``, in order; ``families``: family name -> family object
    (default: the CLIP family), each family's statistics under a key of its own, each resampling unit's models on
    views of their own (``unit_scoring``)."""
    families = families or default_families()
    groups = plan.groups or (0,) * len(plan.specs)
    first = {}  # each family's first group: units count from 0 within a family
    for spec, group in zip(plan.specs, groups, strict=True):
        first.setdefault(spec.family, group)
    out = []
    for spec, group in zip(plan.specs, groups, strict=True):
        family = families[spec.family]
        own = unit_scoring(scoring, group - first[spec.family])
        key = statistics_key(own, plan.scored_ids, data.manifest.sha256, family.scoring_config(),
                             plan.contrast_reference)
        out.append(TrainingContext(spec, plan, data, own, run, key, family))
    return out


def saved_statistics(plan: Plan, manifest_sha256: str, scoring: ScoringConfig, run: RunDir) -> list[SampleStatistics]:
    """Every CLIP model's saved statistics of ``plan`` under ``scoring`` (each unit's own views), in plan order,
    read without rebuilding the data (what benchmarks and analyses of finished runs need)."""
    groups = plan.groups or (0,) * len(plan.specs)
    return [load_statistics(run.statistics(spec.name, statistics_key(
        unit_scoring(scoring, group - groups[0]), plan.scored_ids, manifest_sha256, None, plan.contrast_reference)))
        for spec, group in zip(plan.specs, groups, strict=True)]


def warm_features(recipe: TrainingRecipe, data: ExperimentData, cache_dir: str | None = None) -> None:
    """With a frozen pretrained tower (``clipmem.models.sentence_text``, ``clipmem.models.image_encoder``), encode
    every caption and image of the data once, before any model trains or a worker forks: all models of the run then
    read the same features (the images' from, or into, a file in ``cache_dir`` where one is given)."""
    arch = (recipe.training_config.get("model") or {}).get("arch")
    encoder, image_encoder = sentence_encoder_of(arch), image_encoder_of(arch)
    if encoder is not None and data.tokens.numel() > 0:
        started = time.perf_counter()
        count = warm_cache(encoder, data.tokens)
        log.info("text tower: %d captions encoded by %s in %.1f s", count, encoder, time.perf_counter() - started)
    images = getattr(data.table, "images", None)
    if image_encoder is not None and images is not None and len(images) > 0:
        started = time.perf_counter()
        # uncropped training images are the evaluation ones bit for bit (check_uncropped): one pass covers both
        count, how = warm_image_cache(image_encoder, images, [data.eval_transform], cache_dir)
        log.info("image tower: the features of %d images by %s %s in %.1f s", count, image_encoder, how,
                 time.perf_counter() - started)


@dataclass(frozen=True)
class FitSetup:
    """How every model of a plan is trained and measured: the training ``recipe``, the ``scoring`` settings, the
    ``device`` statistics are computed on, the ``families`` (name -> family object; None: CLIP alone), whether
    finished models are reused (``resume``), how many train at once in forked CPU processes
    (``models_at_once``, ``clipmem.plan.side_by_side``; 1: in turn, in this process) and where a frozen image tower's
    features are kept between runs (``feature_cache``: the data source's ``cache_dir``; None: computed every run)."""

    recipe: TrainingRecipe
    scoring: ScoringConfig
    device: torch.device
    families: dict[str, Any] | None = None
    resume: bool = False
    models_at_once: int = 1
    feature_cache: str | None = None


def fit_plan(plan: Plan, data: ExperimentData, setup: FitSetup, run: RunDir, loggers: list
             ) -> dict[str, FittedModel]:
    """Train or reuse every model of ``plan`` and measure it (rank 0); returns name -> FittedModel on rank 0
    and an empty dict on the other ranks. Each model's statistics are saved before the next model trains,
    so its CLIPMem callback can compare against them."""
    recipe, device, resume = setup.recipe, setup.device, setup.resume
    peers = [spec.train_ids for spec in plan.specs]
    fitted: dict[str, FittedModel] = {}
    plan_contexts = contexts(plan, data, setup.scoring, run, setup.families)
    reused = {c.spec.name for c in plan_contexts if resume and finished_model(c.spec, data, recipe, run, c.family)}
    if len(reused) < len(plan_contexts):  # scoring a reused model encodes the captions it needs on its own
        warm_features(recipe, data, setup.feature_cache)
    side = train_side_by_side([c for c in plan_contexts if c.spec.name not in reused], recipe,
                              setup.models_at_once, resume, peers) if setup.models_at_once > 1 else {}
    plan_progress = PlanProgress(len(plan.specs))
    for index, context in enumerate(plan_contexts):
        spec, family = context.spec, context.family
        plan_progress.begin(index, spec.name)
        begun = time.perf_counter()
        trained: float | None = side.get(spec.name)
        if spec.name in reused:
            log.info("resume: %s is finished (%s), not retrained", spec.name, run.model(spec.name))
            module, history = None, saved_history(run, spec.name)
        elif trained is not None:  # trained side by side, saved by its worker
            module, history = None, saved_history(run, spec.name)
        else:
            started = time.perf_counter()
            module, history = train_model(context, recipe, loggers, resume, peers)
            trained = round(time.perf_counter() - started, 2)
        if distributed.is_global_zero():
            model = family.trained_model(module) if module is not None else family.load(run.model(spec.name))
            fitted[spec.name] = measure_model(model, context, device, history)
            if trained is not None:
                fitted[spec.name].seconds["train"] = trained
        distributed.barrier()  # the statistics exist before the next model's callbacks look for them
        plan_progress.done(time.perf_counter() - begun, spec.name not in reused and spec.name not in side)
        interrupts.check()
    return fitted
