"""Analyses of trained models beyond their scores: UnitMem per layer (docs/paradigms.md)."""

from clipmem.analysis.config import AnalysisConfig
from clipmem.analysis.unitmem import unitmem

__all__ = ["AnalysisConfig", "unitmem"]
