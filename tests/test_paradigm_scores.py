"""The paradigms' pure parts on hand-computed cases: UnitMem, the supervised and SSL statistics and their
memorization scores through the designs' estimator, NT-Xent, the view augmentation and plans over families."""

from __future__ import annotations

import math

import pytest
import torch

from clipmem.analysis.unitmem import activation_layers, layer_mean, token_mean, unitmem
from clipmem.data.batches.transforms import OPENAI_MEAN, OPENAI_STD, BatchTransform
from clipmem.families.augment import ViewAugment
from clipmem.families.ssl import nt_xent
from clipmem.models.factory import build_clip
from clipmem.plan import PairDesign
from clipmem.plan.families import family_plan, family_statistics, family_subplan
from clipmem.plan.spec import ModelSpec, Plan
from clipmem.scoring.paradigms import (
    alignment_loss,
    label_margin_parts,
    label_probability,
    ssl_parts,
    supervised_parts,
)
from clipmem.scoring.statistics import SampleStatistics

NANO = {"embed_dim": 64, "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 128, "layers": 4, "head_width": 32},
        "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 4}}


def test_unitmem_of_a_hand_made_activation_table():
    means = torch.tensor([[4.0, 0.0, 1.0, 3.0, 5.0],
                          [1.0, 0.0, 1.0, 0.0, 1.0],
                          [2.0, 0.0, 1.0, 0.0, 3.0],
                          [1.0, 0.0, 1.0, 0.0, 9.0]])
    got = unitmem(means)
    assert got[0] == pytest.approx((4 - 1) / (4 + 1))  # μ_max 4, median of (1, 2, 1) = 1
    assert torch.isnan(got[1])  # a unit that never fires has no UnitMem
    assert got[2] == pytest.approx(0.0)  # every sample alike
    assert got[3] == pytest.approx(1.0)  # one sample alone activates it
    assert got[4] == pytest.approx((9 - 3) / (9 + 3))  # median of (5, 1, 3) = 3
    assert layer_mean(got) == pytest.approx((0.6 + 0.0 + 1.0 + 0.5) / 4)  # NaN units left out
    even = unitmem(torch.tensor([[5.0], [1.0], [3.0]]))  # two others: their median is their mean
    assert even[0] == pytest.approx((5 - 2) / (5 + 2))


def test_token_means_clamp_at_zero_and_respect_the_mask():
    out = torch.tensor([[[1.0, -0.1], [3.0, 2.0], [5.0, 4.0]]])  # (B=1, T=3, U=2)
    assert token_mean(out, True, None).tolist() == [[3.0, 2.0]]  # GELU's negative part counts as 0
    mask = torch.tensor([[True, True, False]])
    assert token_mean(out, True, mask).tolist() == [[2.0, 1.0]]
    assert token_mean(out.transpose(0, 1), False, None).tolist() == [[3.0, 2.0]]  # (T, B, U) layouts
    maps = torch.arange(8.0).view(1, 2, 2, 2) - 1  # (B, U, H, W): per-map mean of the positive part
    assert token_mean(maps, True, None).tolist() == [[0.75, 4.5]]  # (0, 0, 1, 2) and (3, 4, 5, 6)


def test_unitmem_layers_of_open_clip_towers():
    clip = build_clip(NANO)
    image, text = activation_layers(clip.visual), activation_layers(clip)
    assert len(image) == 4 and len(text) == 4
    assert all(isinstance(layer, torch.nn.GELU) for layer in image + text)
    assert image[0] is clip.visual.transformer.resblocks[0].mlp.gelu  # MLP hidden units after GELU
    assert text[3] is clip.transformer.resblocks[3].mlp.gelu


def test_supervised_statistics_by_hand():
    logits = torch.log(torch.tensor([[[1.0, 3.0, 1.0], [1.0, 1.0, 2.0]]]))  # one sample, two views, three classes
    label = torch.tensor([1])
    assert float(label_probability(logits, label)[0]) == pytest.approx((3 / 5 + 1 / 4) / 2)
    own, other = label_margin_parts(logits, label)
    assert float(own[0] - other[0]) == pytest.approx((math.log(3) - math.log(2)) / 2)  # (ln 3 − 0, 0 − ln 2)
    align, contrast = supervised_parts(logits, label, "prob")
    assert float(contrast[0]) == 0.0 and float(align[0]) == pytest.approx(0.425)


def _pair_plan(n: int = 2) -> Plan:
    g, f = ModelSpec("g", (10, 11, 21), 0), ModelSpec("f", (10, 11, 20), 0, reference="g")
    return Plan(specs=(g, f), scored_ids=(20, 21)[:n], sets=("candidate", "independent")[:n], groups=(0, 0))


def test_feldman_memorization_through_the_pair_estimator():
    """f saw sample 20 (S_C) and gives its label probability 0.9; g did not and gives 0.2: memorization 0.7.
    Sample 21 (S_I) is scored the other way round: g saw it (0.6), f did not (0.5): 0.1."""
    ids = torch.tensor([20, 21])
    stats = {"f": SampleStatistics(ids, torch.tensor([0.9, 0.5]), torch.zeros(2)),
             "g": SampleStatistics(ids, torch.tensor([0.2, 0.6]), torch.zeros(2))}
    scores = PairDesign().estimate(_pair_plan(), stats, "none")
    assert scores["clipmem_raw"].tolist() == pytest.approx([0.7, 0.1])


def test_sslmem_statistic_and_score_by_hand():
    plain = torch.tensor([[2.0, 0.0]])  # normalised to (1, 0)
    views = torch.tensor([[[0.0, 5.0], [3.0, 0.0]]])  # (0, 1) at distance √2, (1, 0) at distance 0
    assert float(alignment_loss(plain, views)[0]) == pytest.approx(math.sqrt(2) / 2)
    align, contrast = ssl_parts(plain, views)
    assert float(align[0]) == pytest.approx(-math.sqrt(2) / 2) and float(contrast[0]) == 0.0
    ids = torch.tensor([20])  # SSLMem = L_align(g, x) − L_align(f, x): f aligns x's views better
    stats = {"f": SampleStatistics(ids, torch.tensor([-0.1]), torch.zeros(1)),
             "g": SampleStatistics(ids, torch.tensor([-0.5]), torch.zeros(1))}
    scores = PairDesign(symmetric=False).estimate(_pair_plan(1), stats, "none")
    assert float(scores["clipmem_raw"][0]) == pytest.approx(0.4)


def test_nt_xent_by_hand_and_with_a_gathered_batch():
    z = torch.eye(2)  # two images, each with identical views: 1 with its own view, 0 with the other image
    expected = -math.log(math.e / (math.e + 2))  # each view among 3 others: its partner (e^1) and two e^0
    assert float(nt_xent(z, z.clone(), 1.0)) == pytest.approx(expected)
    local = nt_xent(z[1:], z[1:].clone(), 1.0, all1=z, all2=z.clone(), offset=1)  # rank 1 of 2, one row each
    assert float(local) == pytest.approx(expected)
    mixed = nt_xent(z, torch.flip(z, [0]), 1.0)  # the partner is now the least similar: a larger loss
    assert float(mixed) > expected + 1


def test_view_augment_is_keyed_and_its_identity_is_the_plain_image():
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    augment = ViewAugment(32)
    first = augment(images, augment.params(3, torch.Generator().manual_seed(5)))
    again = augment(images, augment.params(3, torch.Generator().manual_seed(5)))
    assert torch.equal(first, again) and not torch.allclose(first, BatchTransform(32, train=False)(images))
    identity = ViewAugment(32, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=0.0, jitter=0.0, grayscale_p=0.0)
    plain = identity(images, identity.params(3, torch.Generator().manual_seed(0)))
    assert torch.allclose(plain, BatchTransform(32, train=False)(images), atol=1e-5)
    mirror = ViewAugment(32, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=1.0, jitter=0.0, grayscale_p=0.0)
    flipped = mirror(images, mirror.params(3, torch.Generator().manual_seed(0)))
    assert torch.allclose(flipped, torch.flip(plain, [-1]), atol=1e-5)
    gray = ViewAugment(32, grayscale_p=1.0)
    out = gray(images, gray.params(3, torch.Generator().manual_seed(1)))
    pixels = out * torch.tensor(OPENAI_STD).view(1, 3, 1, 1) + torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
    assert torch.allclose(pixels[:, 0], pixels[:, 1], atol=1e-5) and torch.allclose(pixels[:, 1], pixels[:, 2],
                                                                                    atol=1e-5)


def test_a_plan_over_families_keeps_each_family_the_designs_plan():
    base = _pair_plan()
    assert family_plan(base, ["clip"]) is base  # the CLIP family alone: names unchanged
    plan = family_plan(base, ["clip", "ssl"])
    assert plan.names == ("clip_g", "clip_f", "ssl_g", "ssl_f")
    assert plan.spec("ssl_f").reference == "ssl_g" and plan.spec("ssl_f").family == "ssl"
    assert plan.groups == (0, 0, 1, 1)  # each family's pair is a unit of its own
    sub, names = family_subplan(plan, "ssl", ["clip", "ssl"])
    assert sub.names == ("g", "f") and sub.spec("f").reference == "g" and names == {"g": "ssl_g", "f": "ssl_f"}
    assert [s.train_ids for s in sub.specs] == [s.train_ids for s in base.specs]
    assert family_statistics({"ssl_g": 1, "ssl_f": 2, "clip_f": 3}, names) == {"g": 1, "f": 2}
