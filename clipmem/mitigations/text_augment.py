"""Offline caption augmentation: extra training captions per pair, without external data or models.

Each augmented caption applies, in order: clause shuffling (the comma-separated clauses of a caption
in a random order), synonym substitution (words of ``SYNONYMS`` replaced by another member of their
group with probability ``synonym_prob``) and word dropout (each word dropped with probability
``word_dropout``, never all of them). Every draw is seeded by (seed, sample_id, caption, copy), so the
captions are the same in every run and do not depend on which other pairs are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clipmem.errors import ConfigError

# Small groups of interchangeable caption words (lower case); shipped here, no download.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("photo", "picture", "image", "snapshot"),
    ("small", "little", "tiny"),
    ("large", "big", "huge"),
    ("background", "backdrop", "backcloth"),
    ("centre", "center", "middle"),
    ("top", "upper"),
    ("bottom", "lower"),
    ("gray", "grey"),
    ("coloured", "colored", "tinted"),
    ("beige", "tan"),
    ("against", "on"),
    ("man", "guy", "gentleman"),
    ("woman", "lady"),
    ("person", "individual"),
    ("people", "persons", "folks"),
    ("child", "kid"),
    ("dog", "puppy", "hound"),
    ("cat", "kitten", "kitty"),
    ("car", "automobile", "vehicle"),
    ("street", "road"),
    ("sitting", "seated"),
    ("holding", "carrying"),
    ("looking", "gazing"),
    ("walking", "strolling"),
    ("near", "beside", "next to"),
    ("shows", "depicts"),
    ("drawing", "sketch", "illustration"),
    ("house", "home"),
    ("plate", "dish"),
    ("field", "meadow"),
)
SYNONYMS: dict[str, tuple[str, ...]] = {
    word: tuple(w for w in group if w != word) for group in SYNONYM_GROUPS for word in group
}


def _shuffle_clauses(caption: str, rng: np.random.Generator) -> str:
    clauses = [c.strip() for c in caption.split(",") if c.strip()]
    if len(clauses) < 2:
        return caption
    return ", ".join(clauses[i] for i in rng.permutation(len(clauses)))


def _substitute(words: list[str], probability: float, rng: np.random.Generator) -> list[str]:
    out = []
    for word in words:
        options = SYNONYMS.get(word.lower())
        use = options is not None and rng.random() < probability
        out.append(str(options[rng.integers(len(options))]) if use else word)
    return out


def _dropout(words: list[str], probability: float, rng: np.random.Generator) -> list[str]:
    keep = rng.random(len(words)) >= probability
    if not keep.any():
        keep[rng.integers(len(words))] = True
    return [w for w, k in zip(words, keep, strict=True) if k]


@dataclass(frozen=True)
class CaptionAugmenter:
    """Makes ``copies`` augmented versions of each training caption of a pair.

    Args:
        copies: augmented captions per original caption (≥ 1).
        word_dropout: probability of dropping each word.
        synonym_prob: probability of replacing a word that has synonyms.
        shuffle_clauses: shuffle comma-separated clauses.
        seed: augmentation seed (captions are data: the same for f and g).
        max_tries: re-draws when an augmentation returns the caption unchanged.
    """

    copies: int = 4
    word_dropout: float = 0.15
    synonym_prob: float = 0.5
    shuffle_clauses: bool = True
    seed: int = 0
    max_tries: int = 5

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise ConfigError(f"mitigation.copies must be ≥ 1, got {self.copies}")
        for key in ("word_dropout", "synonym_prob"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(f"mitigation.{key} must be in [0, 1), got {getattr(self, key)}")

    def augment(self, caption: str, rng: np.random.Generator) -> str:
        """One augmented version of ``caption`` (may equal it when no operation applies)."""
        text = _shuffle_clauses(caption, rng) if self.shuffle_clauses else caption
        words = _substitute(text.split(), self.synonym_prob, rng)
        return " ".join(_dropout(words, self.word_dropout, rng))

    def __call__(self, captions: list[str], sample_id: int) -> list[str]:
        """``copies`` augmented captions for each caption in ``captions`` (len(captions)·copies strings)."""
        out = []
        for index, caption in enumerate(captions):
            for copy in range(self.copies):
                rng = np.random.default_rng([self.seed, int(sample_id), index, copy, 0xA06])
                for _ in range(self.max_tries):
                    new = self.augment(caption, rng)
                    if new != caption:
                        break
                out.append(new)
        return out
