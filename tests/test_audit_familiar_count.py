"""The count of wrong pairs among familiar pairs (clipmem.audit.count): its ranks agree with the audit's, its null
leaves out a pair's own caption and the captions of images like its own, and on a set where correct pairs the models
cannot predict fool the ranks-only counts it stays near the true count, also where their captions look familiar."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats as scipy_stats

from clipmem.audit.count import (
    CountRegion,
    caption_ranks,
    familiar_count,
    joint_ranks,
    null_mask,
    observed_and_null,
    poisson_interval,
)
from clipmem.audit.familiarity import side_familiarity
from clipmem.audit.mixture import fit_mixture, wrong_upper_bound
from clipmem.audit.ranks import mid_rank, out_of_sample_statistics, rank_pvalues


def test_caption_ranks_on_the_diagonal_are_the_audits_rank_caption_mid_ranks():
    similarity = torch.randn(30, 30, generator=torch.Generator().manual_seed(0)).double()
    similarity[3, 7] = similarity[3, 3]  # a tie counts against the pair, as in rank_caption
    u = caption_ranks(similarity)
    expected = mid_rank(rank_pvalues(similarity)["rank_caption"], torch.full((30,), 30.0))
    assert torch.allclose(u.diagonal(), expected)
    assert torch.allclose(u.sort(dim=1).values[0], (torch.arange(30).double() + 0.5) / 30)  # each row: every rank
    i, k = 4, 9  # off the diagonal: where caption k would rank among the captions for image i
    assert torch.isclose(u[i, k], ((similarity[i] >= similarity[i, k]).sum() - 0.5).double() / 30)


def test_joint_ranks_are_the_mean_of_the_caption_s_and_the_image_s_mid_ranks():
    similarity = torch.randn(20, 20, generator=torch.Generator().manual_seed(1)).double()
    v = joint_ranks(similarity)
    ranks = rank_pvalues(similarity)
    compared = torch.full((20,), 20.0)
    caption, image = mid_rank(ranks["rank_caption"], compared), mid_rank(ranks["rank_image"], compared)
    assert torch.allclose(v.diagonal(), (caption + image) / 2)
    i, k = 2, 11  # image i read with caption k: caption k among i's captions, image i among k's images
    row = ((similarity[i] >= similarity[i, k]).sum() - 0.5) / 20
    column = ((similarity[:, k] >= similarity[i, k]).sum() - 0.5) / 20
    assert torch.isclose(v[i, k], ((row + column) / 2).double())


def test_the_null_leaves_out_the_pair_itself_and_the_captions_of_the_nearest_images():
    image = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [-1.0, 0.0]])
    allowed = null_mask(image @ image.T, near=0.2)  # ceil(0.2 · 5) = 1 nearest image left out
    assert not allowed.diagonal().any()
    assert not allowed[0, 1] and not allowed[2, 3] and allowed[0, 2] and allowed[0, 4]
    assert allowed.sum(1).tolist() == [3, 3, 3, 3, 3]


def test_the_poisson_interval_is_garwoods():
    assert poisson_interval(0) == (0.0, float(scipy_stats.chi2.ppf(0.975, 2) / 2))
    low, high = poisson_interval(10)
    assert abs(low - 4.7954) < 1e-3 and abs(high - 18.3904) < 1e-3


DIM = 64  # embedding width of the simulated models


def concept_world(seed: int = 0, concepts: int = 240, per_concept: int = 10, unique: int = 300, wrong: int = 300,
                  familiar_captions: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """Embeddings (2, N, DIM) of two models that each trained on half of the pairs, membership (2, N) and the wrong
    pairs (N,) bool. Common concepts have ``per_concept`` pairs the models predict; ``unique`` correct pairs name a
    concept no other pair shows (image and caption unrelated to the models; with ``familiar_captions`` their caption
    lies near a common concept's captions, as a short caption can lie near other captions, while their image is still
    like no other); ``wrong`` pairs show a common concept's image with another common concept's caption."""
    rng = np.random.default_rng(seed)
    centres = F.normalize(torch.from_numpy(rng.standard_normal((concepts, DIM))).float(), dim=-1)
    concept = np.repeat(np.arange(concepts), per_concept)
    noise = lambda n: torch.from_numpy(rng.standard_normal((n, DIM))).float() * 0.05  # noqa: E731
    unique_text = centres[rng.choice(concepts, unique)] + noise(unique) if familiar_captions else noise(unique) * 20
    image = torch.cat([centres[concept] + noise(len(concept)), noise(unique) * 20])
    text = torch.cat([centres[concept] + noise(len(concept)), unique_text])
    shown = rng.choice(concepts, wrong)
    named = (shown + rng.integers(1, concepts, wrong)) % concepts  # always another concept
    image = torch.cat([image, centres[shown] + noise(wrong)])
    text = torch.cat([text, centres[named] + noise(wrong)])
    n = len(image)
    is_wrong = np.zeros(n, dtype=bool)
    is_wrong[-wrong:] = True
    order = rng.permutation(n)
    image, text, is_wrong = image[order], text[order], is_wrong[order]
    membership = torch.zeros(2, n, dtype=torch.bool)
    membership[0, : n // 2] = True
    membership[1, n // 2:] = True
    per_model = lambda x: torch.stack([x + noise(n) * 0.1, x + noise(n) * 0.1])  # noqa: E731
    return per_model(image), per_model(text), membership, is_wrong


def test_unpredictable_correct_pairs_fool_the_ranks_alone_but_not_the_count_among_familiar_captions():
    image, text, membership, wrong = concept_world()
    count = familiar_count(image, text, membership, side_familiarity(image, membership),
                           side_familiarity(text, membership))
    truth = int(wrong.sum())
    assert 0.75 * truth <= count.estimate <= 1.25 * truth
    assert count.low <= truth <= count.high
    # the 300 unique correct pairs rank uniformly too: Storey's bound and the mixture count them with the wrong ones
    ranks = out_of_sample_statistics(image, text, membership)
    u = mid_rank(ranks["rank_caption"], ranks["compared"]).numpy()
    assert wrong_upper_bound(u) * len(u) > 1.6 * truth
    assert fit_mixture(u).wrong_fraction * len(u) > 1.5 * truth



def test_correct_pairs_with_familiar_captions_but_unlike_images_spoil_a_count_by_captions_but_not_by_pairs():
    image, text, membership, wrong = concept_world(familiar_captions=True)
    truth = int(wrong.sum())
    images, captions = side_familiarity(image, membership), side_familiarity(text, membership)
    familiar = captions > torch.quantile(captions, 0.7)

    def by_captions(index: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
        return (caption_ranks(similarity) > 0.5) & familiar[index].unsqueeze(0)

    counted, share = observed_and_null(image, text, membership, by_captions)
    assert int((counted & torch.from_numpy(~wrong)).sum()) > 0.2 * int(counted.sum())  # the unique pairs are in it
    assert int(counted.sum()) / share > 1.25 * truth
    count = familiar_count(image, text, membership, images, captions)
    assert int((count.counted & torch.from_numpy(~wrong)).sum()) < 0.05 * count.observed
    assert 0.75 * truth <= count.estimate <= 1.25 * truth
    assert count.low <= truth <= count.high


@pytest.mark.parametrize("where", [CountRegion(), CountRegion(familiar_quantile=0.8, rank_threshold=0.3)])
def test_the_count_is_the_region_read_pair_by_pair_as_written_out_by_hand(where: CountRegion):
    gen = torch.Generator().manual_seed(3)
    n = 30
    image, text = torch.randn(2, n, 8, generator=gen), torch.randn(2, n, 8, generator=gen)
    text[:, :10] += image[:, :10]  # some pairs the models predict
    membership = torch.zeros(2, n, dtype=torch.bool)  # one cell: every pair unseen by both models
    images, captions = side_familiarity(image, membership), side_familiarity(text, membership)
    count = familiar_count(image, text, membership, images, captions, where)
    s = torch.stack([F.normalize(image[m], dim=-1) @ F.normalize(text[m], dim=-1).T for m in range(2)]).double().mean(0)
    cut = torch.quantile(images + captions, where.familiar_quantile)
    allowed = null_mask(torch.stack([F.normalize(image[m], dim=-1) @ F.normalize(image[m], dim=-1).T
                                     for m in range(2)]).double().mean(0))
    inside = torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        for k in range(n):  # image i read with caption k
            caption_rank = (int((s[i] >= s[i, k]).sum()) - 0.5) / n
            image_rank = (int((s[:, k] >= s[i, k]).sum()) - 0.5) / n
            inside[i, k] = (caption_rank + image_rank) / 2 > where.rank_threshold and images[i] + captions[k] > cut
    assert torch.equal(count.counted, inside.diagonal())
    share = float(((inside & allowed).sum(1) / allowed.sum(1)).mean())
    assert math.isclose(count.null_share, share, rel_tol=1e-6)
    assert 0 < share < 1 - where.rank_threshold and count.observed == int(inside.diagonal().sum())
