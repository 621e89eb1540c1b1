"""Memorization scores: CLIPMem as pure functions, view drawing/encoding, and the f/g pipeline."""

from clipmem.scoring.clipmem import (
    NORMALISATIONS,
    Reference,
    ViewEmbeddings,
    alignment,
    clipmem_scores,
    contrast,
    normalise,
)

__all__ = ["NORMALISATIONS", "Reference", "ViewEmbeddings", "alignment", "clipmem_scores", "contrast", "normalise"]
