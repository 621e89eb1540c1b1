"""CLIPMem formulas checked on small hand-computed embeddings (method.md §3)."""

import math
from types import SimpleNamespace

import pytest
import torch

from clipmem.data.batches.transforms import BatchTransform
from clipmem.scoring import Reference, ViewEmbeddings, alignment, clipmem_scores, contrast, normalise
from clipmem.scoring.views import ViewTransforms, encode_views, plan_views


def unit(*values):
    v = torch.tensor(values, dtype=torch.float32)
    return v / v.norm()


def test_alignment_is_mean_cosine_over_views():
    # pair 0: views at 0° and 90° to the caption -> (1 + 0) / 2; pair 1: identical -> 1
    image = torch.stack([torch.stack([unit(1, 0), unit(0, 1)]), torch.stack([unit(1, 1), unit(1, 1)])])
    text = torch.stack([torch.stack([unit(1, 0), unit(1, 0)]), torch.stack([unit(1, 1), unit(1, 1)])])
    assert torch.allclose(alignment(ViewEmbeddings(image, text)), torch.tensor([0.5, 1.0]))


def test_contrast_matches_the_definition_with_explicit_loops():
    torch.manual_seed(0)
    n, k, m, d = 4, 3, 5, 6
    views = ViewEmbeddings(torch.nn.functional.normalize(torch.randn(n, k, d), dim=-1),
                           torch.nn.functional.normalize(torch.randn(n, k, d), dim=-1))
    ref = Reference(torch.nn.functional.normalize(torch.randn(m, d), dim=-1),
                    torch.nn.functional.normalize(torch.randn(m, d), dim=-1))
    expected = torch.zeros(n)
    for i in range(n):
        total = 0.0
        for kk in range(k):
            img_to_txt = sum(float(views.image[i, kk] @ ref.text[j]) for j in range(m)) / m
            txt_to_img = sum(float(views.text[i, kk] @ ref.image[j]) for j in range(m)) / m
            total += 0.5 * (img_to_txt + txt_to_img)
        expected[i] = total / k
    assert torch.allclose(contrast(views, ref), expected, atol=1e-6)


def test_contrast_by_hand():
    # one pair, one view, image e1, caption e2; S_E = {(e1, e1), (e2, -e1)}
    views = ViewEmbeddings(unit(1, 0).view(1, 1, 2), unit(0, 1).view(1, 1, 2))
    ref = Reference(image=torch.stack([unit(1, 0), unit(0, 1)]), text=torch.stack([unit(1, 0), unit(-1, 0)]))
    # image·T' = (1 + -1)/2 = 0 ; caption·I' = (0 + 1)/2 = 0.5 -> C = 0.25
    assert torch.allclose(contrast(views, ref), torch.tensor([0.25]))


def test_clipmem_is_f_minus_g_of_align_minus_contrast():
    e1, e2 = unit(1, 0), unit(0, 1)
    f = ViewEmbeddings(torch.stack([e1, e1]).view(2, 1, 2), torch.stack([e1, e2]).view(2, 1, 2))
    g = ViewEmbeddings(torch.stack([e1, e1]).view(2, 1, 2), torch.stack([e2, e2]).view(2, 1, 2))
    ref = Reference(image=e2.view(1, 2), text=e2.view(1, 2))
    out = clipmem_scores(f, g, ref, ref, use_contrast=True, normalisation="none")
    # A_f = [1, 0], A_g = [0, 0]; C_f = ½[<e1,e2> + <t,e2>] = [0, .5]; C_g = [.5, .5]
    assert torch.allclose(out["align_f"], torch.tensor([1.0, 0.0]))
    assert torch.allclose(out["contrast_f"], torch.tensor([0.0, 0.5]))
    assert torch.allclose(out["contrast_g"], torch.tensor([0.5, 0.5]))
    assert torch.allclose(out["clipmem_raw"], torch.tensor([1.5, 0.0]))
    no_contrast = clipmem_scores(f, g, ref, ref, use_contrast=False, normalisation="none")
    assert torch.allclose(no_contrast["clipmem_raw"], torch.tensor([1.0, 0.0]))
    assert torch.equal(no_contrast["contrast_f"], torch.zeros(2))


@pytest.mark.parametrize(
    ("method", "expected"),
    [("minmax", [0.0, 0.25, 1.0]), ("range", [-0.25, 0.0, 0.75]), ("none", [-1.0, 0.0, 3.0])],
)
def test_normalisations(method, expected):
    assert torch.allclose(normalise(torch.tensor([-1.0, 0.0, 3.0]), method), torch.tensor(expected))


def test_constant_scores_normalise_safely():
    assert torch.equal(normalise(torch.full((3,), 0.2), "minmax"), torch.zeros(3))
    assert not torch.isnan(normalise(torch.full((3,), 0.2), "range")).any()


def test_unknown_normalisation():
    with pytest.raises(ValueError, match="minmax"):
        normalise(torch.zeros(2), "zscore")


def test_views_are_reproducible_and_captions_drawn_within_counts():
    transform = BatchTransform(16)
    counts = torch.tensor([1, 3, 5])
    a = plan_views(counts, 50, transform, seed=7)
    b = plan_views(counts, 50, transform, seed=7)
    assert torch.equal(a.theta, b.theta) and torch.equal(a.caption, b.caption)
    assert (a.caption[0] == 0).all()
    assert a.caption[1].max() == 2 and a.caption[2].max() == 4 and a.caption.min() == 0
    assert not torch.equal(a.theta, plan_views(counts, 50, transform, seed=8).theta)


class _Probe(torch.nn.Module):
    """encode_text returns the one-hot of the first token; encode_image the per-channel image mean."""

    def encode_text(self, tokens, normalize=True):
        return torch.nn.functional.one_hot(tokens[:, 0], 4).float()

    def encode_image(self, images, normalize=True):
        return torch.nn.functional.normalize(torch.cat([images.mean((2, 3)), torch.ones(len(images), 1)], 1), dim=-1)


def test_encode_views_gathers_the_drawn_caption():
    tokens = torch.tensor([[[0], [1], [2]], [[3], [3], [3]]])  # pair 0 has 3 distinct captions
    images = torch.randint(0, 255, (2, 3, 8, 8), dtype=torch.uint8)
    plan = plan_views(torch.tensor([3, 3]), 6, BatchTransform(8), seed=0)
    pairs = SimpleNamespace(images=images, tokens=tokens, views=None)
    views = encode_views(_Probe(), pairs, plan, ViewTransforms(BatchTransform(8), BatchTransform(8, train=False)))
    assert views.text.shape == (2, 6, 4)
    assert torch.equal(views.text[0].argmax(-1), plan.caption[0])
    assert (views.text[1].argmax(-1) == 3).all()
    assert math.isclose(float(views.image.norm(dim=-1).mean()), 1.0, rel_tol=1e-5)
