"""Training-time mitigations of memorization (``conf/mitigation/*.yaml``), applied to every model alike.

``base`` holds the protocol (``Mitigation``); ``hooks`` what a mitigation hands to training (``EmbeddingNoise``,
``Removal``); ``noise`` embedding noise in the loss; ``captions`` several captions or images per pair and caption
augmentation (``text_augment`` builds the augmented captions); ``remove_topk`` retraining without the most
memorized pairs.
"""

from clipmem.mitigations.base import Mitigation, NoMitigation
from clipmem.mitigations.captions import MultiCaption, MultiImage, TextAugment
from clipmem.mitigations.hooks import EmbeddingNoise, Removal
from clipmem.mitigations.noise import ImageNoise, TextNoise
from clipmem.mitigations.remove_topk import RemoveTopK

__all__ = [
    "EmbeddingNoise",
    "ImageNoise",
    "Mitigation",
    "MultiCaption",
    "MultiImage",
    "NoMitigation",
    "Removal",
    "RemoveTopK",
    "TextAugment",
    "TextNoise",
]
