"""Analyses of trained models beyond their scores: UnitMem per layer (docs/paradigms.md)."""

from clipmem._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "AnalysisConfig": "config",
    "unitmem": "unitmem",
})
__all__ = sorted(__dir__())
