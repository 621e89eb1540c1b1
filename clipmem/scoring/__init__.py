"""Memorization scores: CLIPMem as pure functions, per-model statistics, and estimators over them."""

from clipmem._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "NORMALISATIONS": "clipmem",
    "Reference": "clipmem",
    "ViewEmbeddings": "clipmem",
    "alignment": "clipmem",
    "clipmem_scores": "clipmem",
    "contrast": "clipmem",
    "normalise": "clipmem",
    "ScoringConfig": "config",
    "pair_estimate": "estimators",
    "score_summary": "estimators",
    "ModelScorer": "statistics",
    "SampleStatistics": "statistics",
})
__all__ = sorted(__dir__())
