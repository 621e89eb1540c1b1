"""Speed and memory benchmark: ``python -m clipmem.bench [--out DIR]``.

Measures, each in a fresh subprocess (so the RSS high-water mark belongs to one measurement):
  * training throughput (samples/s) of CLIPModule under a real ``lightning.Trainer`` (the pipeline's
    datamodule, augmentation, logging and progress bar) vs a bare PyTorch loop over the same
    open_clip model, loss, optimizer, schedule, augmentation and in-memory data;
  * CLIPMem scoring (``CandidateScorer.score`` for f and g) vs the pure forward-encode time of the
    same images and captions, and how scoring time and memory grow with |S_C|, K and model size;
  * on a CUDA GPU: ViT-B-32 samples/s at batch 256 in bf16 and the fraction of the card's peak
    bf16 matrix throughput (FLOPs per sample counted by ``torch.utils.flop_counter``).
Warm-up steps are excluded; each timing is the median of several repeats. Writes ``bench.md`` and
``bench.json`` under ``--out`` (default ``outputs/bench/<date>_<time>``) and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CONF = Path(__file__).resolve().parents[1] / "conf"
WARMUP, STEPS, REPEATS = 3, 10, 3
TRAIN_PAIRS = 3  # interleaved Lightning/bare measurements
# Peak dense bf16 tensor throughput (TFLOP/s) by device-name fragment, from the vendors' data sheets.
PEAK_BF16_TFLOPS = {
    "H200": 989.0, "H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0, "H100": 756.0,
    "A100": 312.0, "L40S": 362.0, "L40": 181.0, "L4": 121.0, "A10G": 70.0, "A10": 125.0,
    "RTX 4090": 165.0, "RTX 3090": 71.0,
}
MODEL_SIZES = {  # name -> nano overrides (width/layers of both towers)
    "nano": {},
    "small": {"model.arch.vision_cfg.width": 256, "model.arch.vision_cfg.layers": 6,
              "model.arch.text_cfg.width": 128, "model.arch.text_cfg.layers": 6, "model.arch.embed_dim": 128},
}


# --------------------------------------------------------------------------------------------- helpers
def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    import clipmem.config  # noqa: F401  (resolvers)

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="train", overrides=["logger=none", "run_dir=/tmp/clipmem-bench", *overrides])


def _datamodule(cfg):
    from clipmem.config import instantiate_checked

    dm = instantiate_checked(cfg.data)
    dm.build()
    dm.set_role("f")
    return dm


def _windows(stamps: list[float], batch: int) -> list[float]:
    """Samples/s over REPEATS windows of STEPS steps after WARMUP steps, from per-step start times."""
    return [batch * STEPS / (stamps[WARMUP + (r + 1) * STEPS] - stamps[WARMUP + r * STEPS]) for r in range(REPEATS)]


TRAIN_OVERRIDES = [  # enough pairs that the timed steps stay inside one epoch (no validation pass)
    "data.source.num_samples=3000", "data.splits={shared:2400,candidate:200,independent:200,extra:200}",
    "data.batch_size=64", "trainer.max_epochs=1",
]


# --------------------------------------------------------------------------------------------- children
def child_train_lightning(extra: list[str]) -> dict[str, Any]:
    import lightning as L
    import torch

    from clipmem import hardware
    from clipmem.config import instantiate_checked
    from clipmem.experiment import _plain

    cfg = _compose([*TRAIN_OVERRIDES, *extra])
    dm = _datamodule(cfg)
    torch.manual_seed(0)
    module = instantiate_checked(cfg.model, log_prefix="f/")
    stamps: list[float] = []

    class Stamp(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            stamps.append(time.perf_counter())

    rss_before = _peak_rss_mib()
    trainer = L.Trainer(
        **_plain(cfg.trainer), **hardware.trainer_kwargs(_plain(cfg.hardware)), logger=False, callbacks=[Stamp()],
        enable_checkpointing=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        max_steps=WARMUP + STEPS * REPEATS + 1, use_distributed_sampler=False, default_root_dir="/tmp/clipmem-bench",
    )
    trainer.fit(module, datamodule=dm)
    return {"samples_per_s": _windows(stamps, dm.global_batch_size), "rss_setup_mib": rss_before,
            "peak_rss_mib": _peak_rss_mib()}


def child_train_bare(extra: list[str]) -> dict[str, Any]:
    import functools

    import torch
    from open_clip.loss import ClipLoss

    from clipmem.config import instantiate_checked
    from clipmem.data.seeding import EpochSampler, keyed_generator
    from clipmem.models.module import LOGIT_SCALE_MAX
    from clipmem.models.schedule import warmup_cosine

    cfg = _compose([*TRAIN_OVERRIDES, *extra])
    dm = _datamodule(cfg)
    torch.set_float32_matmul_precision(cfg.hardware.matmul_precision)
    torch.use_deterministic_algorithms(bool(cfg.hardware.deterministic))  # as the Trainer sets it
    torch.manual_seed(0)
    module = instantiate_checked(cfg.model)  # only for the same model and parameter groups
    model, loss_fn, batch = module.clip, ClipLoss(), dm.global_batch_size
    model.train()
    optimizer = module.optimizer_factory(module.parameter_groups())
    total = WARMUP + STEPS * REPEATS + 1
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, functools.partial(warmup_cosine, total_steps=total, warmup_steps=1, min_ratio=0.0))
    positions = dm.table.positions(list(dm.manifest.train_ids("f")))
    images, tokens = dm.table.images[positions], dm.tokens[positions, 0]
    order = [i for i, _ in EpochSampler(len(positions), dm.seed)]
    stamps: list[float] = []
    rss_before = _peak_rss_mib()
    for step in range(total):
        stamps.append(time.perf_counter())
        idx = torch.tensor(order[step * batch : (step + 1) * batch])
        theta = dm.train_transform.crop_params(batch, keyed_generator(dm.seed, step))
        x = dm.train_transform(images[idx], theta=theta)
        loss = loss_fn(model.encode_image(x, normalize=True), model.encode_text(tokens[idx], normalize=True),
                       model.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0.0, LOGIT_SCALE_MAX)
    return {"samples_per_s": _windows(stamps, batch), "rss_setup_mib": rss_before, "peak_rss_mib": _peak_rss_mib()}


def _score_setup(extra: list[str]):
    import torch

    from clipmem.config import instantiate_checked
    from clipmem.scoring.pipeline import ScoringConfig

    cfg = _compose(extra)
    dm = _datamodule(cfg)
    torch.manual_seed(0)
    model_f = instantiate_checked(cfg.model).clip.eval()
    torch.manual_seed(1)
    model_g = instantiate_checked(cfg.model).clip.eval()
    scoring = ScoringConfig(**{k: v for k, v in cfg.scoring.items()})
    return dm, model_f, model_g, scoring


def child_score(extra: list[str]) -> dict[str, Any]:
    """CandidateScorer for f and g (a fresh scorer each repeat: g's embeddings are not cached)."""
    from clipmem.scoring.pipeline import CandidateScorer

    dm, model_f, model_g, scoring = _score_setup(extra)
    CandidateScorer(dm, scoring).score(model_f, model_g)  # warm-up
    rss_before = _peak_rss_mib()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        CandidateScorer(dm, scoring).score(model_f, model_g)
        times.append(time.perf_counter() - start)
    n, m = len(dm.manifest.candidate), len(dm.manifest.extra)
    return {"seconds": times, "num_candidates": n, "num_extra": m, "num_views": scoring.num_views,
            "rss_setup_mib": rss_before, "peak_rss_mib": _peak_rss_mib()}


def child_encode(extra: list[str]) -> dict[str, Any]:
    """The forward passes scoring needs, and nothing else: N·K augmented candidate views, N captions,
    M extra images and captions, for f and g, on images already transformed outside the timing."""
    import torch

    from clipmem.scoring.views import plan_views

    dm, model_f, model_g, scoring = _score_setup(extra)
    cand, ext = dm.split_pairs("candidate"), dm.split_pairs("extra")
    plan = plan_views(cand["counts"], scoring.num_views, dm.train_transform, scoring.seed, scoring.augment_images)
    views = dm.train_transform(cand["images"].repeat_interleave(scoring.num_views, 0), theta=plan.theta)
    ref_images = dm.eval_transform(ext["images"])
    texts = torch.cat([cand["tokens"][:, 0], ext["tokens"][:, 0]])
    bs = scoring.batch_size

    @torch.no_grad()
    def encode_all():
        for model in (model_f, model_g):
            for x in (views, ref_images):
                for s in range(0, len(x), bs):
                    model.encode_image(x[s : s + bs], normalize=True)
            for s in range(0, len(texts), bs):
                model.encode_text(texts[s : s + bs], normalize=True)

    encode_all()
    rss_before = _peak_rss_mib()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        encode_all()
        times.append(time.perf_counter() - start)
    return {"seconds": times, "rss_setup_mib": rss_before, "peak_rss_mib": _peak_rss_mib()}


def child_gpu(extra: list[str]) -> dict[str, Any]:
    """ViT-B-32 at batch 256 in bf16 on CUDA: samples/s and the achieved fraction of peak bf16 FLOP/s."""
    import torch

    if not torch.cuda.is_available():
        return {"gpu": None}
    from open_clip.loss import ClipLoss
    from torch.utils.flop_counter import FlopCounterMode

    from clipmem.models.factory import build_clip, resolve_model_cfg

    torch.backends.cuda.matmul.allow_tf32 = True
    model = build_clip(resolve_model_cfg("ViT-B-32", 224, 77)).cuda().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    loss_fn, batch = ClipLoss(), 256
    images = torch.randn(batch, 3, 224, 224, device="cuda")
    tokens = torch.randint(1, 49408, (batch, 77), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = loss_fn(model.encode_image(images, normalize=True), model.encode_text(tokens, normalize=True),
                           model.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops_per_step = counter.get_total_flops()
    for _ in range(WARMUP):
        step()
    rates = []
    for _ in range(REPEATS):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(STEPS):
            step()
        torch.cuda.synchronize()
        rates.append(batch * STEPS / (time.perf_counter() - start))
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    rate = statistics.median(rates)
    achieved = flops_per_step / batch * rate / 1e12
    return {"gpu": name, "samples_per_s": rates, "tflops": achieved, "peak_tflops": peak,
            "mfu": achieved / peak if peak else None, "max_memory_mib": torch.cuda.max_memory_allocated() / 2**20}


CHILDREN = {"train_lightning": child_train_lightning, "train_bare": child_train_bare, "score": child_score,
            "encode": child_encode, "gpu": child_gpu}


# --------------------------------------------------------------------------------------------- parent
def measure(kind: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    cmd = [sys.executable, "-m", "clipmem.bench", "--child", kind, *(overrides or [])]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child {kind} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"[bench] {kind} {' '.join(overrides or [])}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return result


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _train_section() -> dict[str, Any]:
    # Interleaved pairs (L, B, L, B, ...): on a shared machine the load drifts; adjacent runs see the same.
    pairs = [(measure("train_lightning"), measure("train_bare")) for _ in range(TRAIN_PAIRS)]
    ratios = [_median(lt["samples_per_s"]) / _median(bt["samples_per_s"]) for lt, bt in pairs]
    lightning = {"samples_per_s": [_median(lt["samples_per_s"]) for lt, _ in pairs],
                 "peak_rss_mib": max(lt["peak_rss_mib"] for lt, _ in pairs)}
    bare = {"samples_per_s": [_median(bt["samples_per_s"]) for _, bt in pairs],
            "peak_rss_mib": max(bt["peak_rss_mib"] for _, bt in pairs)}
    return {"lightning": lightning, "bare": bare, "pair_ratios": ratios, "ratio": _median(ratios)}


def _score_sections() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    base = ["data.source.num_samples=1400", "data.splits={shared:800,candidate:200,independent:200,extra:200}",
            "scoring.num_views=4"]
    score, encode = measure("score", base), measure("encode", base)
    ratio = _median(score["seconds"]) / _median(encode["seconds"])
    section = {"score": score, "encode": encode, "ratio": ratio}
    growth = []
    for label, extra in (
        *((f"|S_C|={n}", [f"data.splits.candidate={n}", f"data.splits.independent={n}",
                          f"data.source.num_samples={1000 + 2 * n}"]) for n in (100, 400)),
        *((f"K={k}", [f"scoring.num_views={k}"]) for k in (2, 8)),
        *((f"model={name}", [f"{k}={v}" for k, v in sizes.items()]) for name, sizes in MODEL_SIZES.items()
          if name != "nano"),
    ):
        point = measure("score", [*base, *extra])
        growth.append({"point": label, **point})
    return section, [{"point": "base (|S_C|=200, K=4, nano)", **score}, *growth]


def run_benchmark(out_dir: Path, parts: tuple[str, ...] = ("train", "score", "gpu")) -> dict[str, Any]:
    started = time.perf_counter()
    import os

    import torch

    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {_cpu_count()} CPU cores, {platform.system()}, torch {torch.__version__} "
                   f"({torch.get_num_threads()} threads)",
        "gpu_name": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "load_average_start": list(os.getloadavg()),
    }
    if "train" in parts:
        results["train"] = _train_section()
    if "score" in parts:
        results["score"], results["growth"] = _score_sections()
    results["gpu"] = measure("gpu") if "gpu" in parts else {"gpu": None}
    results["wall_seconds"] = time.perf_counter() - started
    results["load_average_end"] = list(os.getloadavg())
    out_dir.mkdir(parents=True, exist_ok=True)
    from clipmem.io import atomic_write_json, atomic_write_text

    atomic_write_json(out_dir / "bench.json", results)
    table = format_table(results)
    atomic_write_text(out_dir / "bench.md", table)
    return results


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def format_table(r: dict[str, Any]) -> str:
    """The Markdown table of a benchmark result."""
    t, s = r.get("train"), r.get("score")
    lines = [
        f"Benchmark on {r['machine']} ({r['date']}; {r['wall_seconds']:.0f} s; 1-min load average "
        f"{r['load_average_start'][0]:.1f} at start, {r['load_average_end'][0]:.1f} at end).",
        f"Medians of {REPEATS} repeats, {WARMUP} warm-up steps excluded;",
        "peak RSS = process high-water mark (MiB), a fresh process per measurement.",
        "",
        "| measurement | value | peak RSS MiB | target |",
        "|---|---|---|---|",
    ]
    if t:
        lines += [
            f"| train samples/s, Lightning (nano, batch 64) | {_median(t['lightning']['samples_per_s']):.1f} | "
            f"{t['lightning']['peak_rss_mib']:.0f} | |",
            f"| train samples/s, bare PyTorch loop | {_median(t['bare']['samples_per_s']):.1f} | "
            f"{t['bare']['peak_rss_mib']:.0f} | |",
            f"| Lightning / bare throughput (median of {len(t['pair_ratios'])} interleaved pairs: "
            f"{', '.join(f'{x:.2f}' for x in t['pair_ratios'])}) | {t['ratio']:.3f} | | "
            f"≥ 0.97 {'✓' if t['ratio'] >= 0.97 else '✗'} |",
        ]
    if s:
        lines += [
            f"| CLIPMem scoring f+g, s (\\|S_C\\|=200, K=4) | {_median(s['score']['seconds']):.2f} | "
            f"{s['score']['peak_rss_mib']:.0f} | |",
            f"| pure forward-encode of the same inputs, s | {_median(s['encode']['seconds']):.2f} | "
            f"{s['encode']['peak_rss_mib']:.0f} | |",
            f"| scoring / encode time | {s['ratio']:.3f} | | ≤ 1.2 {'✓' if s['ratio'] <= 1.2 else '✗'} |",
        ]
    g = r["gpu"]
    if g.get("gpu"):
        mfu = f"{g['mfu']:.1%} of {g['peak_tflops']:.0f} TFLOP/s" if g.get("mfu") else "peak unknown"
        lines.append(f"| ViT-B-32 bf16 batch 256 on {g['gpu']}, samples/s | {_median(g['samples_per_s']):.0f} "
                     f"({g['tflops']:.0f} TFLOP/s, {mfu}) | {g['max_memory_mib']:.0f} (CUDA) | |")
    else:
        lines.append("| ViT-B-32 bf16 batch 256, samples/s and fraction of peak | no GPU | | |")
    if r.get("growth"):
        lines += ["", "Scoring (f and g) as |S_C|, K and model size grow:", "",
                  "| point | candidates | K | seconds | peak RSS MiB |", "|---|---|---|---|---|"]
    for p in r.get("growth", []):
        label = p["point"].replace("|", "\\|")
        lines.append(f"| {label} | {p['num_candidates']} | {p['num_views']} | {_median(p['seconds']):.2f} | "
                     f"{p['peak_rss_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m clipmem.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default outputs/bench/<date>_<time>)")
    parser.add_argument("--parts", default="train,score,gpu", help="comma-separated: train, score, gpu")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args, overrides = parser.parse_known_args(argv)
    if args.child:
        import clipmem  # noqa: F401  (torchvision shim before lightning/open_clip)

        print(json.dumps(CHILDREN[args.child](overrides)), flush=True)
        return
    out = args.out or Path("outputs/bench") / dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    results = run_benchmark(out, tuple(args.parts.split(",")))
    print(format_table(results), flush=True)
    print(f"written to {out}/bench.md and bench.json", flush=True)


if __name__ == "__main__":
    main()
