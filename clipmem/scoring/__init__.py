"""Memorization scores: CLIPMem as pure functions, per-model statistics, and estimators over them."""

from clipmem.scoring.clipmem import (
    NORMALISATIONS,
    Reference,
    ViewEmbeddings,
    alignment,
    clipmem_scores,
    contrast,
    normalise,
)
from clipmem.scoring.config import ScoringConfig
from clipmem.scoring.estimators import pair_estimate, score_summary
from clipmem.scoring.statistics import ModelScorer, SampleStatistics

__all__ = [
    "NORMALISATIONS",
    "ModelScorer",
    "Reference",
    "SampleStatistics",
    "ScoringConfig",
    "ViewEmbeddings",
    "alignment",
    "clipmem_scores",
    "contrast",
    "normalise",
    "pair_estimate",
    "score_summary",
]
