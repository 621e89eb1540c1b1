"""LayerMem's pieces: which layers, how a layer's output is pooled, and the ground-truth groups of its table."""

from __future__ import annotations

import pytest
import torch

from clipmem.analysis.layermem import layer_encodings, layer_statistics, pooled, representation_layers
from clipmem.analysis.layermem_run import group_masks
from clipmem.errors import ConfigError
from clipmem.evaluation.encode import Batching
from clipmem.families.augment import ViewAugment
from clipmem.models.factory import build_clip

from .test_paradigm_scores import NANO


def _nano():
    torch.manual_seed(0)
    return build_clip(NANO)


def test_pooling_is_a_token_mean_in_either_layout_and_a_position_mean_of_maps():
    x = torch.arange(24, dtype=torch.float32).view(2, 3, 4)  # (B, T, D)
    assert torch.equal(pooled(x, batch_first=True), x.mean(1))
    assert torch.equal(pooled(x.transpose(0, 1), batch_first=False), x.mean(1))
    maps = torch.arange(32, dtype=torch.float32).view(2, 4, 2, 2)
    assert torch.equal(pooled(maps, batch_first=True), maps.mean((2, 3)))


def test_layers_are_the_transformer_blocks_and_other_towers_are_refused():
    model = _nano()
    assert representation_layers(model.visual) == list(model.visual.transformer.resblocks)
    with pytest.raises(ConfigError, match="LayerMem: no layers found in a Linear tower"):
        representation_layers(torch.nn.Linear(2, 2))


def test_layer_encodings_give_one_plain_and_k_augmented_representations_per_layer():
    model = _nano().eval()
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    augment = ViewAugment(32)
    params = augment.params(3 * 5, torch.Generator().manual_seed(0))

    def transform(x):
        return augment(x, augment.params(len(x), torch.Generator().manual_seed(1)))

    cpu = torch.device("cpu")
    plain, views = layer_encodings(model.visual, images, transform, augment, params, Batching(2, cpu))
    assert len(plain) == len(views) == 4
    assert all(p.shape == (5, 128) and v.shape == (5, 3, 128) for p, v in zip(plain, views, strict=True))
    # view k of sample i is row k·N + i of params, whatever the batch size: sample 4's view 2 is row 14
    _, single = layer_encodings(model.visual, images[4:5], transform, augment, params.rows(slice(14, 15)),
                                Batching(1, cpu))
    assert torch.allclose(single[-1][0, 0], views[-1][4, 2], atol=1e-5)
    assert not torch.allclose(views[-1][4, 1], views[-1][4, 2], atol=1e-3)  # the views differ
    align, contrast = layer_statistics(plain, views)[-1]
    assert align.shape == (5,) and bool((align < 0).all()) and bool((contrast == 0).all())


def test_groups_split_the_scored_samples():
    masks = group_masks((10, 11, 12, 13), mislabeled=(11,), atypical=(13, 99))
    assert masks["mislabeled"].tolist() == [False, True, False, False]
    assert masks["atypical"].tolist() == [False, False, False, True]
    assert masks["clean"].tolist() == [True, False, True, False]
