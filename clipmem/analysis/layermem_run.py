"""The LayerMem analysis of a run's models (``python evaluate.py run_dir=<run> analysis=layermem``): every family's
models loaded from the run, SSLMem's statistic on each layer of their image towers, the run's design turning
them into per-sample scores, the mean per layer; layermem.csv and report/layermem.png (docs/paradigms.md)."""

from __future__ import annotations

import math
from typing import Any

import torch

from clipmem.analysis.job import AnalysisJob
from clipmem.analysis.layermem import layer_encodings, layer_statistics
from clipmem.data.batches.seeding import keyed_seed
from clipmem.families.augment import ViewAugment
from clipmem.families.ssl import DEFAULT_AUGMENT
from clipmem.io import atomic_write_csv
from clipmem.plan.families import family_subplan
from clipmem.progress import step
from clipmem.reporting.paradigm_plots import plot_layermem
from clipmem.rundir import RunDir
from clipmem.scoring.statistics import SampleStatistics

LAYERMEM_SALT = 0x1A7E  # the augmentations of LayerMem: the same for every model of a run
GROUPS = ("clean", "mislabeled", "atypical")
LAYERMEM_COLUMNS = ("family", "layer", "layermem", *(f"layermem_{g}" for g in GROUPS), "num_samples")


def group_masks(scored_ids: tuple[int, ...], mislabeled: tuple[int, ...], atypical: tuple[int, ...]
                ) -> dict[str, torch.Tensor]:
    """(N,) bool masks of the scored samples: ``mislabeled`` (or mis-captioned), ``atypical`` and the ``clean`` rest."""
    bad, rare = set(mislabeled), set(atypical)
    mis = torch.tensor([i in bad for i in scored_ids])
    aty = torch.tensor([i in rare for i in scored_ids])
    return {"clean": ~(mis | aty), "mislabeled": mis, "atypical": aty}


def _mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    return float(values[mask].mean()) if bool(mask.any()) else math.nan


def family_layermem(job: AnalysisJob, family: str) -> list[dict[str, Any]]:
    """One row per layer of ``family``'s image towers: the mean in-minus-out SSLMem statistic on that layer over
    the family's scored samples, overall and per ground-truth group."""
    data = job.data
    sub, names = family_subplan(job.plan, family, tuple(job.families))
    pairs = data.pairs_of(sub.scored_ids)
    augment = ViewAugment(data.eval_transform.image_size, **DEFAULT_AUGMENT)
    views = int(job.config.views)
    params = augment.params(views * len(pairs), torch.Generator().manual_seed(keyed_seed(job.seed, LAYERMEM_SALT)))
    per_model: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for spec in sub.specs:
        model = job.families[family].load(job.models_from.model(names[spec.name])).to(job.device)
        with step(f"{names[spec.name]}: LayerMem of {len(pairs)} samples x {views} views"):
            plain, augmented = layer_encodings(model.visual, pairs.images, data.eval_transform, augment, params,
                                               job.batching)
        per_model[spec.name] = layer_statistics(plain, augmented)
    manifest = data.manifest
    masks = group_masks(sub.scored_ids, manifest.mislabeled or manifest.miscaptioned, manifest.atypical)
    rows = []
    for layer in range(len(next(iter(per_model.values())))):
        stats = {name: SampleStatistics(pairs.sample_ids, *values[layer]) for name, values in per_model.items()}
        raw = job.design.estimate(sub, stats, "none")["clipmem_raw"].double()
        rows.append({"family": family, "layer": layer + 1, "layermem": float(raw.mean()),
                     **{f"layermem_{g}": _mean(raw, masks[g]) for g in GROUPS}, "num_samples": len(raw)})
    return rows


def layermem_curves(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Family -> mean LayerMem per layer (first layer first)."""
    curves: dict[str, list[float]] = {}
    for row in sorted(rows, key=lambda r: r["layer"]):
        curves.setdefault(row["family"], []).append(row["layermem"])
    return curves


def analyse_layermem(job: AnalysisJob, out: RunDir) -> dict[str, Any]:
    """LayerMem of every family's models written into ``out`` (layermem.csv, report/layermem.png); returns the
    metrics: the curves (``layermem``) and each layer as a flat ``<family>_layermem_layer<k>``."""
    rows = [row for family in job.families for row in family_layermem(job, family)]
    atomic_write_csv(out.root / "layermem.csv", rows, LAYERMEM_COLUMNS)
    curves = layermem_curves(rows)
    plot_layermem(curves, out.report_file("layermem"), job.colours)
    return {"layermem": curves, **{f"{family}_layermem_layer{layer}": value for family, values in curves.items()
                                   for layer, value in enumerate(values, start=1)}}
