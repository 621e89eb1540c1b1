"""ViT-B-32 at batch 256 in bf16 on CUDA: samples/s and the achieved fraction of the card's peak bf16 FLOP/s."""

from __future__ import annotations

import statistics
import time
from typing import Any

from common import REPEATS, STEPS, WARMUP

# Peak dense bf16 tensor throughput (TFLOP/s) by device-name fragment, from the vendors' data sheets.
PEAK_BF16_TFLOPS = {
    "H200": 989.0, "H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0, "H100": 756.0,
    "A100": 312.0, "L40S": 362.0, "L40": 181.0, "L4": 121.0, "A10G": 70.0, "A10": 125.0,
    "RTX 4090": 165.0, "RTX 3090": 71.0,
}


def gpu(extra: list[str]) -> dict[str, Any]:
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


