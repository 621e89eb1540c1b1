"""Score the candidates S_C of a datamodule with models f and g: views → embeddings → CLIPMem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from clipmem.data.datamodule import CLIPMemDataModule
from clipmem.errors import ConfigError
from clipmem.evaluation.auc import flag_auc
from clipmem.evaluation.encode import eval_mode
from clipmem.scoring.clipmem import NORMALISATIONS, Reference, ViewEmbeddings, clipmem_scores
from clipmem.scoring.views import encode_reference, encode_views, plan_views


@dataclass(frozen=True)
class ScoringConfig:
    """How CLIPMem is computed (``scoring`` in the Hydra config).

    num_views: K paired draws of (image augmentation, caption) per candidate.
    contrast: subtract the contrast term over S_E (method.md §3) when True.
    normalisation: ``minmax`` | ``range`` | ``none``.
    augment_images: draw image views with the training augmentation (else the plain image).
    seed: seed of the view draws, the same for f and g.
    batch_size: encoder batch size.
    bf16: encode in bfloat16 autocast on CUDA.
    """

    num_views: int = 8
    contrast: bool = True
    normalisation: str = "minmax"
    augment_images: bool = True
    seed: int = 0
    batch_size: int = 256
    bf16: bool = False

    def __post_init__(self) -> None:
        if self.normalisation not in NORMALISATIONS:
            raise ConfigError(
                f"scoring.normalisation must be one of {list(NORMALISATIONS)}, got {self.normalisation!r}"
            )
        if self.num_views < 1:
            raise ConfigError(f"scoring.num_views must be ≥ 1, got {self.num_views}")


class CandidateScorer:
    """Computes CLIPMem of every candidate for a model f against a reference model g.

    The view plan is drawn once, so f and g (and f at every epoch) are compared on identical views.
    g's embeddings are cached after the first call with a given g.
    """

    def __init__(
        self, datamodule: CLIPMemDataModule, config: ScoringConfig, device: torch.device | str = "cpu"
    ) -> None:
        self.dm = datamodule
        self.config = config
        self.device = torch.device(device)
        self.candidates = datamodule.split_pairs("candidate")
        self.extra = datamodule.split_pairs("extra")
        views = self.candidates.get("views")
        self.plan = plan_views(
            self.candidates["counts"], config.num_views, datamodule.train_transform, config.seed, config.augment_images,
            image_views=1 if views is None else views.shape[1],
        )
        self._cached_g: tuple[torch.nn.Module, ViewEmbeddings, Reference] | None = None

    def embed(self, model: torch.nn.Module) -> tuple[ViewEmbeddings, Reference]:
        """Candidate views (N, K, D) and S_E reference (M, D) of ``model``."""
        cfg, dm = self.config, self.dm
        with eval_mode(model):
            views = encode_views(
                model, self.candidates["images"], self.candidates["tokens"], self.plan,
                dm.train_transform, dm.eval_transform, cfg.batch_size, self.device, cfg.bf16,
                views=self.candidates.get("views"),
            )
            reference = encode_reference(
                model, self.extra["images"], self.extra["tokens"], dm.eval_transform,
                cfg.batch_size, self.device, cfg.bf16,
            )
        return views, reference

    def _embed_g(self, model_g: torch.nn.Module) -> tuple[ViewEmbeddings, Reference]:
        if self._cached_g is None or self._cached_g[0] is not model_g:
            self._cached_g = (model_g, *self.embed(model_g))
        return self._cached_g[1], self._cached_g[2]

    def score(self, model_f: torch.nn.Module, model_g: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Per-candidate score columns (N,) from ``clipmem_scores`` plus ``sample_id`` and ``miscaptioned``."""
        views_f, ref_f = self.embed(model_f)
        views_g, ref_g = self._embed_g(model_g)
        scores = clipmem_scores(views_f, views_g, ref_f, ref_g, self.config.contrast, self.config.normalisation)
        return {"sample_id": self.candidates["sample_ids"], "miscaptioned": self.candidates["miscaptioned"], **scores}


def score_summary(scores: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Means and medians of CLIPMem, per group where mis-captions exist, and the mis-caption AUC."""
    clipmem, raw, flags = scores["clipmem"], scores["clipmem_raw"], scores["miscaptioned"].bool()
    out: dict[str, Any] = {
        "clipmem_mean": float(clipmem.mean()),
        "clipmem_median": float(clipmem.median()),
        "clipmem_raw_mean": float(raw.mean()),
        "num_candidates": int(len(clipmem)),
        "num_miscaptioned": int(flags.sum()),
    }
    if flags.any() and not flags.all():
        out["clipmem_mean_miscaptioned"] = float(clipmem[flags].mean())
        out["clipmem_mean_clean"] = float(clipmem[~flags].mean())
        out["miscaption_auc"] = flag_auc(clipmem, flags)
    return out
