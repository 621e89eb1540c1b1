"""Mitigations that change what each pair shows in training: several captions, several images, or
augmented captions. Each returns changed ``DataSettings``; f and g are built from the same."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from clipmem.data.settings import DataSettings, whole_number
from clipmem.errors import ConfigError
from clipmem.mitigations.base import Mitigation
from clipmem.mitigations.text_augment import CaptionAugmenter


@dataclass(frozen=True)
class MultiCaption(Mitigation):
    """``mitigation=multi_caption``: each training step draws one of the pair's first ``k`` captions, and
    scoring's K draws pick among the same k (sets ``data.train_captions = k``)."""

    name = "multi_caption"
    k: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", whole_number(self.k, "mitigation.k", 1))

    def configure_data(self, data: DataSettings) -> DataSettings:
        if data.train_captions not in (1, self.k):
            raise ConfigError(f"mitigation=multi_caption sets data.train_captions to mitigation.k={self.k}, but "
                              f"data.train_captions={data.train_captions} was also given; set only one of them")
        return data.replace(train_captions=self.k)


@dataclass(frozen=True)
class MultiImage(Mitigation):
    """``mitigation=multi_image``: ``k`` distinct images per caption (the source renders k views of each
    scene, ``data.source.views = k``); each training step and each scoring draw picks one."""

    name = "multi_image"
    k: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", whole_number(self.k, "mitigation.k", 1))

    def configure_data(self, data: DataSettings) -> DataSettings:
        source = data.source
        if not dataclasses.is_dataclass(source) or "views" not in {f.name for f in dataclasses.fields(source)}:
            raise ConfigError(f"mitigation=multi_image needs a data source that renders several images per "
                              f"caption (data.source.views); {type(source).__name__} has none. "
                              "Use data=synthetic or another source with a `views` option")
        return data.replace(source=dataclasses.replace(source, views=self.k))


@dataclass(frozen=True)
class TextAugment(Mitigation):
    """``mitigation=text_augment``: each training caption gains ``copies`` augmented versions (offline:
    clause shuffling, synonyms shipped in the package, word dropout), used in training and scoring."""

    name = "text_augment"
    copies: int = 4
    word_dropout: float = 0.15
    synonym_prob: float = 0.5
    shuffle_clauses: bool = True
    seed: int = 0

    def augmenter(self) -> CaptionAugmenter:
        return CaptionAugmenter(copies=self.copies, word_dropout=self.word_dropout, synonym_prob=self.synonym_prob,
                                shuffle_clauses=self.shuffle_clauses, seed=self.seed)

    def __post_init__(self) -> None:
        self.augmenter()  # validates the parameters

    def configure_data(self, data: DataSettings) -> DataSettings:
        return data.replace(caption_augment=self.augmenter())
