"""What one run of ``experiment=coco_vitb32`` costs on a GPU: the FLOPs of one training sample and of one scored view
of ViT-B/32 at 224 px (counted by torch's FlopCounterMode, on the CPU), the samples the preset trains and scores
(read from its composed config), and the time per run: from the GPU part's measured samples/s where it ran, else
the compute time at assumed fractions of an H100's peak bf16 throughput (an estimate, labelled as one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PRESET = ["experiment=coco_vitb32", "data.source.path=pairs.csv"]
H100_SXM_PEAK_TFLOPS = 989.0  # dense bf16, NVIDIA's data sheet (benchmarks/gpu.py holds the other cards)
ASSUMED_UTILISATION = (0.2, 0.35, 0.5)  # model-FLOP utilisation of a well-fed ViT-B/32 training step


def coco_flops(extra: list[str]) -> dict[str, Any]:
    """FLOPs per training sample (forward and backward of both towers and the loss) and per scored view (forward of
    both towers) of ViT-B/32 at 224 px with 77 tokens; counted on a batch of 4 and divided by 4."""
    import torch
    from open_clip.loss import ClipLoss
    from torch.utils.flop_counter import FlopCounterMode

    from clipmem.models.factory import build_clip, resolve_model_cfg

    batch = 4
    model = build_clip(resolve_model_cfg("ViT-B-32", 224, 77)).train()
    images, tokens = torch.randn(batch, 3, 224, 224), torch.randint(1, 49408, (batch, 77))
    with FlopCounterMode(display=False) as train:
        loss = ClipLoss()(model.encode_image(images, normalize=True), model.encode_text(tokens, normalize=True),
                          model.logit_scale.exp())
        loss.backward()
    with torch.no_grad(), FlopCounterMode(display=False) as encode:
        model.encode_image(images, normalize=True)
        model.encode_text(tokens, normalize=True)
    return {"train_flops_per_sample": train.get_total_flops() / batch,
            "encode_flops_per_view": encode.get_total_flops() / batch}


def coco_plan() -> dict[str, Any]:
    """The preset's sizes as its config composes them: training pairs per model (S_S plus S_C for f, plus S_I for
    g), epochs, scored pairs (S_C and S_I) and views per scored pair."""
    from hydra import compose, initialize_config_dir

    from clipmem.config import register

    register()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=PRESET)
    splits = cfg.data.splits
    return {"models": 2, "train_pairs_per_model": int(splits.shared) + int(splits.candidate),
            "epochs": int(cfg.trainer.max_epochs), "scored_pairs": int(splits.candidate) + int(splits.independent),
            "views": int(cfg.scoring.num_views), "batch_size": int(cfg.data.batch_size)}


def coco_section(flops: dict[str, Any], gpu: dict[str, Any]) -> dict[str, Any]:
    """The run's FLOPs and its time per run: measured rate (``gpu`` holds the GPU part's result) or assumed
    utilisations of an H100 SXM."""
    plan = coco_plan()
    train_samples = plan["models"] * plan["train_pairs_per_model"] * plan["epochs"]
    scored_views = plan["models"] * plan["scored_pairs"] * plan["views"]
    total = train_samples * flops["train_flops_per_sample"] + scored_views * flops["encode_flops_per_view"]
    out: dict[str, Any] = {**plan, **flops, "train_samples": train_samples, "scored_views": scored_views,
                           "run_pflops": total / 1e15}
    if gpu.get("gpu") and gpu.get("samples_per_s"):
        rate = sorted(gpu["samples_per_s"])[len(gpu["samples_per_s"]) // 2]
        out["measured"] = {"gpu": gpu["gpu"], "samples_per_s": rate, "train_hours": train_samples / rate / 3600}
    out["assumed"] = [{"utilisation": u, "hours": total / (u * H100_SXM_PEAK_TFLOPS * 1e12) / 3600}
                      for u in ASSUMED_UTILISATION]
    return out


def coco_rows(c: dict[str, Any]) -> list[str]:
    """The bench.md lines of the section."""
    lines = ["", f"`experiment=coco_vitb32` per run: {c['models']} models × {c['train_pairs_per_model']:,} pairs × "
             f"{c['epochs']} epochs = {c['train_samples']:,} training samples at "
             f"{c['train_flops_per_sample'] / 1e9:.1f} GFLOP each, and {c['scored_views']:,} scored views at "
             f"{c['encode_flops_per_view'] / 1e9:.1f} GFLOP (FLOPs counted on the CPU): {c['run_pflops']:.0f} PFLOP.",
             ""]
    if c.get("measured"):
        m = c["measured"]
        lines.append(f"Measured on {m['gpu']}: {m['samples_per_s']:.0f} training samples/s, so training takes "
                     f"{m['train_hours']:.2f} h per run (data loading and scoring not included).")
    else:
        lines.append("No GPU measured: the compute time of one run on an H100 SXM (989 TFLOP/s dense bf16) at "
                     "assumed utilisations, an estimate and not a measurement (data loading not included):")
    lines += ["", "| assumed fraction of peak | hours per run |", "|---|---|"]
    lines += [f"| {a['utilisation']:.0%} | {a['hours']:.2f} |" for a in c["assumed"]]
    return lines
