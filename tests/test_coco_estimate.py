"""The benchmark's cost of one experiment=coco_vitb32 run: FLOPs counted on the real model, sizes from the preset."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import coco  # noqa: E402


def test_training_a_sample_costs_about_three_forward_passes_of_vit_b32():
    flops = coco.coco_flops([])
    ratio = flops["train_flops_per_sample"] / flops["encode_flops_per_view"]
    assert 2.8 < ratio < 3.2, flops  # backward ≈ twice the forward
    assert 12e9 < flops["encode_flops_per_view"] < 17e9  # ViT-B/32 at 224 px (≈ 8.8) + text, 77 tokens (≈ 5.9)


def test_time_per_run_comes_from_the_measured_rate_where_a_gpu_ran():
    flops = {"train_flops_per_sample": 40e9, "encode_flops_per_view": 10e9}
    estimate = coco.coco_section(flops, {"gpu": None})
    assert estimate["train_samples"] == 2 * 70_000 * 32 and estimate["scored_views"] == 2 * 10_000 * 8
    assert estimate["run_pflops"] == pytest.approx((4_480_000 * 40e9 + 160_000 * 10e9) / 1e15)
    assert "measured" not in estimate and [a["utilisation"] for a in estimate["assumed"]] == [0.2, 0.35, 0.5]
    measured = coco.coco_section(flops, {"gpu": "NVIDIA H100", "samples_per_s": [1000.0, 2000.0, 1500.0]})
    assert measured["measured"]["train_hours"] == pytest.approx(4_480_000 / 1500.0 / 3600)
    assert "Measured on NVIDIA H100: 1500 training samples/s" in "\n".join(coco.coco_rows(measured))
