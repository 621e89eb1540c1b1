"""UnitMem of one trained model, layer by layer: its image tower on augmented views of fixed samples, and for
CLIP its text tower on their captions (``clipmem.analysis.unitmem`` has the definition)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from clipmem.analysis.unitmem import layer_mean, mean_activations, unitmem
from clipmem.data.batches.seeding import keyed_seed
from clipmem.data.experiment_data import PairSet
from clipmem.data.splits.manifest import SplitManifest
from clipmem.evaluation.encode import Batching, eval_mode
from clipmem.families.augment import ViewAugment
from clipmem.families.ssl import DEFAULT_AUGMENT

UNITMEM_SALT = 0x0717  # the samples (split seed) and views (seed) of UnitMem: the same for every model of a run


def unitmem_samples(manifest: SplitManifest, count: int) -> tuple[int, ...]:
    """``count`` ids of S_S (every model trained on them; S_C and S_I when S_S is empty) in a seeded order."""
    pool = np.asarray(manifest.shared or manifest.candidate + manifest.independent, dtype=np.int64)
    order = np.random.default_rng([int(manifest.seed), UNITMEM_SALT]).permutation(len(pool))
    return tuple(int(i) for i in pool[order[:count]])


@dataclass(frozen=True)
class LayerProbe:
    """What every model's layers are measured on: the N ``pairs``, ``views`` augmentations of each image
    (``ViewAugment`` to ``image_size`` px with the SSL family's default settings, drawn from ``seed``), encoded
    in ``batching``."""

    pairs: PairSet
    image_size: int
    views: int
    seed: int
    batching: Batching


def image_layers(model: torch.nn.Module, probe: LayerProbe) -> list[float]:
    """Mean UnitMem of every layer of ``model.visual`` over the probe's augmented views of its images."""
    images, views, batch_size = probe.pairs.images, probe.views, int(probe.batching.size)
    device = probe.batching.torch_device
    augment = ViewAugment(probe.image_size, **DEFAULT_AUGMENT)
    params = augment.params(views * len(images), torch.Generator().manual_seed(keyed_seed(probe.seed, UNITMEM_SALT)))

    def batches(k: int) -> Iterator[tuple[torch.Tensor, None]]:
        for start in range(0, len(images), batch_size):
            rows = slice(k * len(images) + start, k * len(images) + min(start + batch_size, len(images)))
            yield augment(images[start:start + batch_size].to(device), params.rows(rows)), None

    with eval_mode(model):
        means = mean_activations(model.visual, model.visual, batches, views)
    return [layer_mean(unitmem(m)) for m in means]


def text_layers(model: torch.nn.Module, tokens: torch.Tensor, batching: Batching) -> list[float]:
    """Mean UnitMem of every layer of a CLIP model's text tower on token ids (N, L), each token up to the
    end-of-text token (the largest id) counted; text has no augmentation here, so one pass."""
    batch_size, device = int(batching.size), batching.torch_device

    def batches(k: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(tokens), batch_size):
            chunk = tokens[start:start + batch_size]
            mask = torch.arange(chunk.shape[1]).unsqueeze(0) <= chunk.argmax(-1, keepdim=True)
            yield chunk.to(device), mask

    with eval_mode(model):
        means = mean_activations(model, model.encode_text, batches, 1)
    return [layer_mean(unitmem(m)) for m in means]


def model_unitmem(model: torch.nn.Module, towers: tuple[str, ...], probe: LayerProbe) -> dict[str, list[float]]:
    """Tower (``image``, and ``text`` where ``towers`` has it) -> mean UnitMem per layer, first layer first."""
    model = model.to(probe.batching.torch_device)
    out = {"image": image_layers(model, probe)}
    if "text" in towers:
        out["text"] = text_layers(model, probe.pairs.tokens[:, 0], probe.batching)
    return out
