"""The short summary printed at the end of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def format_summary(metrics: dict[str, Any], run_dir: Path) -> str:
    """A few lines: mean CLIPMem, clean vs mis-captioned means and AUC, zero-shot of f and g, run dir."""
    lines = [
        "CLIPMem summary",
        f"  candidates scored        {metrics['num_candidates']}",
        f"  mean CLIPMem             {metrics['clipmem_mean']:.3f} (median {metrics['clipmem_median']:.3f})",
    ]
    if "miscaption_auc" in metrics:
        lines += [
            f"  mis-captioned / clean    {metrics['clipmem_mean_miscaptioned']:.3f}"
            f" / {metrics['clipmem_mean_clean']:.3f}   ({metrics['num_miscaptioned']} mis-captioned)",
            f"  mis-caption AUC          {metrics['miscaption_auc']:.3f}",
        ]
    lines.append(
        f"  zero-shot top-1  f / g   {_pct(metrics.get('zeroshot_top1_f'))} / {_pct(metrics.get('zeroshot_top1_g'))}"
    )
    lines.append(f"  run directory            {run_dir}")
    return "\n".join(lines)
