"""One measurement per fresh process (so the RSS high-water mark belongs to it): training under Lightning
and in a bare loop (alone, and alternated in one process for their ratio), CLIPMem statistics of f and g, and
the pure forward passes they need."""

from __future__ import annotations

import functools
import time
from typing import Any

from common import (
    REPEATS,
    STEPS,
    TRAIN_OVERRIDES,
    TRAIN_PAIRS,
    WARMUP,
    median,
    peak_rss_mib,
    pin_threads,
    settings,
    windows,
)


def _training_setup(extra: list[str]):
    """The validated settings and data of the training measurements (built once per process)."""
    from clipmem.data import build_data

    pin_threads()
    config = settings([*TRAIN_OVERRIDES, *extra])
    return config, build_data(config.data)


def lightning_stamps(config, data, profiler=None) -> list[float]:
    """Per-step start times of the pipeline's own training: CLIPModule, TrainingDataModule, a real Trainer.
    ``profiler`` (a ``cProfile.Profile``) is on during the timed steps only (after the warm-up)."""
    import lightning as L
    import torch

    from clipmem.data import TrainingDataModule

    torch.manual_seed(0)
    module = config.recipe.build_module(log_prefix="f/")
    stamps: list[float] = []

    class Stamp(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            stamps.append(time.perf_counter())
            if profiler is not None and len(stamps) == WARMUP + 1:
                profiler.enable()

        def on_train_end(self, trainer, pl_module):
            if profiler is not None:
                profiler.disable()

    trainer_kwargs = {**config.recipe.trainer_kwargs, "max_steps": WARMUP + STEPS * REPEATS + 1}
    trainer = L.Trainer(**trainer_kwargs, logger=False, callbacks=[Stamp()], enable_checkpointing=False,
                        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                        use_distributed_sampler=False, default_root_dir="/tmp/clipmem-bench")
    trainer.fit(module, datamodule=TrainingDataModule(data, data.manifest.train_ids("f"), seed=0))
    return stamps


def bare_stamps(config, data) -> list[float]:
    """Per-step start times of the same model, loss, optimizer, schedule, augmentation and in-memory data in a
    plain PyTorch loop."""
    import torch
    from open_clip.loss import ClipLoss

    from clipmem.data.batches.seeding import EpochSampler, keyed_generator
    from clipmem.models.module import LOGIT_SCALE_MAX
    from clipmem.models.schedule import warmup_cosine

    torch.set_float32_matmul_precision(config.hardware.matmul_precision)
    torch.use_deterministic_algorithms(bool(config.hardware.deterministic))  # as the Trainer sets it
    torch.manual_seed(0)
    module = config.recipe.build_module(log_prefix="")  # only for the same model and parameter groups
    model, loss_fn, batch = module.clip, ClipLoss(), data.batch_size
    model.train()
    optimizer = module.optimizer_factory(module.parameter_groups())
    total = WARMUP + STEPS * REPEATS + 1
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, functools.partial(warmup_cosine, total_steps=total, warmup_steps=1, min_ratio=0.0))
    positions = data.table.positions(list(data.manifest.train_ids("f")))
    images, tokens = data.table.images[positions], data.tokens[positions, 0]
    order = [i for i, _ in EpochSampler(len(positions), 0)]
    stamps: list[float] = []
    for step in range(total):
        stamps.append(time.perf_counter())
        idx = torch.tensor(order[step * batch : (step + 1) * batch])
        x = data.train_transform(images[idx], theta=data.train_transform.crop_params(batch, keyed_generator(0, step)))
        loss = loss_fn(model.encode_image(x, normalize=True), model.encode_text(tokens[idx], normalize=True),
                       model.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0.0, LOGIT_SCALE_MAX)
    return stamps


def _alone(extra: list[str], stamps_of) -> dict[str, Any]:
    """Samples/s and peak memory of one training loop (``stamps_of``) alone in this process."""
    config, data = _training_setup(extra)
    rss_before = peak_rss_mib()
    stamps = stamps_of(config, data)
    return {"samples_per_s": windows(stamps, data.batch_size), "rss_setup_mib": rss_before,
            "peak_rss_mib": peak_rss_mib()}


def train_lightning(extra: list[str]) -> dict[str, Any]:
    """Lightning training alone in this process."""
    return _alone(extra, lightning_stamps)


def train_bare(extra: list[str]) -> dict[str, Any]:
    """The bare loop alone in this process."""
    return _alone(extra, bare_stamps)


def train_pairs(extra: list[str]) -> dict[str, Any]:
    """Lightning and bare runs alternated ``TRAIN_PAIRS`` times in one process on the same data: each pair's
    ratio compares two runs that share the process, its memory layout and its cores, which separate processes
    do not (across processes the same loop's speed varied by up to 9 % on the 2-core machine)."""
    config, data = _training_setup(extra)
    lightning, bare = [], []
    for _ in range(TRAIN_PAIRS):
        lightning.append(median(windows(lightning_stamps(config, data), data.batch_size)))
        bare.append(median(windows(bare_stamps(config, data), data.batch_size)))
    return {"lightning_samples_per_s": lightning, "bare_samples_per_s": bare,
            "ratios": [lt / bt for lt, bt in zip(lightning, bare, strict=True)]}


def _score_setup(extra: list[str]):
    import torch

    from clipmem.data import build_data

    config = settings(extra)
    data = build_data(config.data)
    torch.manual_seed(0)
    model_f = config.recipe.build_module(log_prefix="").clip.eval()
    torch.manual_seed(1)
    model_g = config.recipe.build_module(log_prefix="").clip.eval()
    return data, model_f, model_g, config.scoring


def score(extra: list[str]) -> dict[str, Any]:
    """Statistics of f and g on S_C and the pair estimate (a fresh scorer each repeat)."""
    from clipmem.scoring import ModelScorer, pair_estimate

    data, model_f, model_g, scoring = _score_setup(extra)

    def once():
        scorer = ModelScorer(data, data.manifest.candidate, scoring)
        pair_estimate(scorer.statistics(model_f), scorer.statistics(model_g), scoring.normalisation)

    once()  # warm-up
    rss_before = peak_rss_mib()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return {"seconds": times, "num_candidates": len(data.manifest.candidate), "num_extra": len(data.manifest.extra),
            "num_views": scoring.num_views, "rss_setup_mib": rss_before, "peak_rss_mib": peak_rss_mib()}


def encode(extra: list[str]) -> dict[str, Any]:
    """The forward passes scoring needs, and nothing else: N·K augmented candidate views, N captions,
    M extra images and captions, for f and g, on images already transformed outside the timing."""
    import torch

    from clipmem.scoring.views import plan_views

    data, model_f, model_g, scoring = _score_setup(extra)
    cand, ext = data.pairs("candidate"), data.pairs("extra")
    plan = plan_views(cand.counts, scoring.num_views, data.train_transform, scoring.seed, scoring.augment_images)
    views = data.train_transform(cand.images.repeat_interleave(scoring.num_views, 0), theta=plan.theta)
    ref_images = data.eval_transform(ext.images)
    texts = torch.cat([cand.tokens[:, 0], ext.tokens[:, 0]])
    size = scoring.batch_size

    @torch.no_grad()
    def encode_all():
        for model in (model_f, model_g):
            for x in (views, ref_images):
                for s in range(0, len(x), size):
                    model.encode_image(x[s : s + size], normalize=True)
            for s in range(0, len(texts), size):
                model.encode_text(texts[s : s + size], normalize=True)

    encode_all()
    rss_before = peak_rss_mib()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        encode_all()
        times.append(time.perf_counter() - start)
    return {"seconds": times, "rss_setup_mib": rss_before, "peak_rss_mib": peak_rss_mib()}
