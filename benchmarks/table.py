"""The Markdown table of a benchmark result (printed and written to bench.md)."""

from __future__ import annotations

from typing import Any

from coco import coco_rows
from common import REPEATS, STEPS, WARMUP, median


def _ratio_row(label: str, ratios: list[float], ratio: float) -> str:
    """A Lightning/bare row: the pairs, their spread, the median and both targets."""
    spread = max(ratios) - min(ratios)
    return (f"| {label}: {', '.join(f'{x:.3f}' for x in ratios)}; spread {spread:.3f}) | {ratio:.3f} | | "
            f"≥ 0.97 {'✓' if ratio >= 0.97 else '✗'}, spread < 0.03 {'✓' if spread < 0.03 else '✗'} |")


def _train_rows(t: dict[str, Any]) -> list[str]:
    rows = [
        f"| train samples/s, Lightning (nano, batch 64; alone in a fresh process) | "
        f"{median(t['lightning']['samples_per_s']):.1f} | {t['lightning']['peak_rss_mib']:.0f} | |",
        f"| train samples/s, bare PyTorch loop (alone in a fresh process) | {median(t['bare']['samples_per_s']):.1f} | "
        f"{t['bare']['peak_rss_mib']:.0f} | |",
        _ratio_row(f"Lightning / bare throughput (median of {len(t['pair_ratios'])} pairs alternated in one process",
                   t["pair_ratios"], t["ratio"]),
    ]
    if "no_bar_ratio" in t:
        rows.append(_ratio_row("the same with Lightning's progress bar off (as the pipeline runs when its output is "
                               "not a terminal", t["no_bar_pair_ratios"], t["no_bar_ratio"]))
    return rows


def _score_rows(s: dict[str, Any]) -> list[str]:
    return [
        f"| CLIPMem statistics of f and g, s (\\|S_C\\|=200, K=4) | {median(s['score']['seconds']):.2f} | "
        f"{s['score']['peak_rss_mib']:.0f} | |",
        f"| pure forward-encode of the same inputs, s | {median(s['encode']['seconds']):.2f} | "
        f"{s['encode']['peak_rss_mib']:.0f} | |",
        f"| scoring / encode time | {s['ratio']:.3f} | | ≤ 1.2 {'✓' if s['ratio'] <= 1.2 else '✗'} |",
    ]


def _gpu_row(g: dict[str, Any]) -> str:
    if not g.get("gpu"):
        return "| ViT-B-32 bf16 batch 256, samples/s and fraction of peak | no GPU | | |"
    mfu = f"{g['mfu']:.1%} of {g['peak_tflops']:.0f} TFLOP/s" if g.get("mfu") else "peak unknown"
    return (f"| ViT-B-32 bf16 batch 256 on {g['gpu']}, samples/s | {median(g['samples_per_s']):.0f} "
            f"({g['tflops']:.0f} TFLOP/s, {mfu}) | {g['max_memory_mib']:.0f} (CUDA) | |")


def _profile_rows(profile: dict[str, Any]) -> list[str]:
    total = sum(profile["groups_s"].values())
    lines = ["", f"Where the Lightning measurement's {STEPS * REPEATS} timed steps spend their time (cProfile own "
             f"time, {total:.1f} s under the profiler; profile.txt has the top functions):",
             "", "| part | seconds | share |", "|---|---|---|"]
    lines += [f"| {name} | {sec:.2f} | {sec / total:.0%} |" for name, sec in profile["groups_s"].items()]
    return lines


def _cost_rows(cost: dict[str, Any]) -> list[str]:
    lines = ["", f"Default experiment (callbacks=none, {cost['wall_s']:.0f} s): per-model statistics against training:",
             "", "| model | train s | statistics s | utility s | statistics / train | target |",
             "|---|---|---|---|---|---|"]
    for name, row in cost["models"].items():
        ok = "✓" if row["statistics_fraction"] <= 0.10 else "✗"
        lines.append(f"| {name} | {row['train']:.1f} | {row['statistics']:.2f} | {row['utility']:.2f} | "
                     f"{row['statistics_fraction']:.1%} | ≤ 10 % {ok} |")
    return lines


def _audit_rows(audit: list[dict[str, Any]]) -> list[str]:
    lines = ["", "Audit of 1,000 pairs (`experiment=audit`, emoji captions, 10 % exchanged) by setting:", "",
             "| setting | models | wall s | training s (sum over models) | statistics s | mis-caption AUC [95 %] | "
             "target |",
             "|---|---|---|---|---|---|---|"]
    for r in audit:
        ok = "" if r["setting"] != "defaults" else ("≤ 300 s ✓" if r["wall_s"] <= 300 else "≤ 300 s ✗")
        auc = "n/a" if r["auc"] is None else f"{r['auc']:.3f} [{r['auc_low']:.3f}, {r['auc_high']:.3f}]"
        lines.append(f"| {r['setting']} | {r['models']} | {r['wall_s']:.0f} | {r['train_s']:.0f} | "
                     f"{r['statistics_s']:.0f} | {auc} | {ok} |")
    return lines


def _growth_rows(growth: list[dict[str, Any]]) -> list[str]:
    if not growth:
        return []
    lines = ["", "Scoring (f and g) as |S_C|, K and model size grow:", "",
             "| point | candidates | K | seconds | peak RSS MiB |", "|---|---|---|---|---|"]
    for p in growth:
        label = p["point"].replace("|", "\\|")
        lines.append(f"| {label} | {p['num_candidates']} | {p['num_views']} | {median(p['seconds']):.2f} | "
                     f"{p['peak_rss_mib']:.0f} |")
    return lines


def format_table(r: dict[str, Any]) -> str:
    """The Markdown table of a benchmark result ``r`` (what ``bench.run_benchmark`` returns)."""
    lines = [
        f"Benchmark on {r['machine']} ({r['date']}; {r['wall_seconds']:.0f} s; 1-min load average "
        f"{r['load_average_start'][0]:.1f} at start, {r['load_average_end'][0]:.1f} at end).",
        f"Medians of {REPEATS} repeats, {WARMUP} warm-up steps excluded;",
        "peak RSS = process high-water mark (MiB), a fresh process per measurement.",
        "",
        "| measurement | value | peak RSS MiB | target |",
        "|---|---|---|---|",
    ]
    if r.get("train"):
        lines += _train_rows(r["train"])
    if r.get("score"):
        lines += _score_rows(r["score"])
    lines.append(_gpu_row(r["gpu"]))
    lines += _growth_rows(r.get("growth", []))
    if r.get("profile"):
        lines += _profile_rows(r["profile"])
    if r.get("cost"):
        lines += _cost_rows(r["cost"])
    if r.get("audit"):
        lines += _audit_rows(r["audit"])
    if r.get("startup"):
        lines += _startup_rows(r["startup"])
    if r.get("coco"):
        lines += coco_rows(r["coco"])
    return "\n".join(lines) + "\n"


def _startup_rows(startup: dict[str, Any]) -> list[str]:
    seconds = median(startup["seconds"])
    mark = "✓" if seconds <= startup["target_s"] else "✗"
    return ["", "Start-up (`python train.py --help`, a fresh process each, median of "
            f"{len(startup['seconds'])}): {seconds:.2f} s (target ≤ {startup['target_s']:.0f} s {mark})"]
