import pytest
import torch

from clipmem.data.batches.transforms import BatchTransform
from clipmem.data.sources.base import ZeroShotSet
from clipmem.evaluation.auc import auc_interval, flag_auc
from clipmem.evaluation.encode import encode_images
from clipmem.evaluation.retrieval import retrieval_recall
from clipmem.evaluation.zeroshot import zeroshot_accuracy


def test_retrieval_recall_by_hand():
    eye = torch.eye(3)
    # sims[i, j] = text[j][i]. Image 0 prefers text 2 (0.8 > 0.6): i2t R@1 = 2/3.
    # Text 0 prefers image 1 (0.8 > 0.6) and text 2 image 0 (0.8 > 0.6): t2i R@1 = 1/3.
    text = torch.stack([torch.tensor([0.6, 0.8, 0.0]), eye[1], torch.tensor([0.8, 0.0, 0.6])])
    out = retrieval_recall(eye, text, ks=(1, 3))
    assert abs(out["i2t_r1"] - 2 / 3) < 1e-6 and out["i2t_r3"] == 1.0
    assert abs(out["t2i_r1"] - 1 / 3) < 1e-6 and out["t2i_r3"] == 1.0


def test_retrieval_ties_count_against_the_true_match():
    same = torch.nn.functional.normalize(torch.ones(4, 3), dim=-1)  # every image and caption embeds alike
    out = retrieval_recall(same, same, ks=(1, 4))
    assert out["i2t_r1"] == 0.0 and out["t2i_r1"] == 0.0 and out["i2t_r4"] == 1.0
    text = torch.eye(3)[[0, 1, 1]]  # captions 1 and 2 are one vector: image 1 ties with caption 2 (rank 1), and
    out = retrieval_recall(torch.eye(3), text, ks=(1, 2, 3))  # image 2 scores 0 with all three (rank 2)
    assert abs(out["i2t_r1"] - 1 / 3) < 1e-6 and abs(out["i2t_r2"] - 2 / 3) < 1e-6 and out["i2t_r3"] == 1.0


def test_flag_auc():
    assert flag_auc(torch.tensor([0.1, 0.2, 0.9, 0.8]), torch.tensor([0, 0, 1, 1])) == 1.0
    assert flag_auc(torch.tensor([0.9, 0.8, 0.1, 0.2]), torch.tensor([0, 0, 1, 1])) == 0.0
    assert flag_auc(torch.tensor([0.1, 0.2]), torch.tensor([0, 0])) is None
    # by hand: positives 0.5, 0.3 against negatives 0.4, 0.3, 0.1 -> (3 + 1.5) / 6 (a tie counts one half)
    assert flag_auc(torch.tensor([0.5, 0.3, 0.4, 0.3, 0.1]), torch.tensor([1, 1, 0, 0, 0])) == pytest.approx(0.75)


def test_hanley_mcneil_against_the_papers_example():
    """Hanley and McNeil (1982): AUC 0.893 from 51 abnormal and 58 normal cases has a standard error of 0.032."""
    se, low, high = auc_interval(0.893, 51, 58)
    assert se == pytest.approx(0.0325, abs=0.0005)
    assert low == pytest.approx(0.893 - 1.959964 * se) and high == pytest.approx(min(1.0, 0.893 + 1.959964 * se))
    assert auc_interval(0.99, 5, 5)[2] == 1.0  # clamped to the AUC's scale


class _ColourModel(torch.nn.Module):
    """Images embed as their mean RGB; the text 'red'/'green'/'blue' embeds as that axis."""

    def encode_image(self, images, normalize=True):
        return torch.nn.functional.normalize(images.mean((2, 3)), dim=-1)

    def encode_text(self, tokens, normalize=True):
        return torch.nn.functional.one_hot(tokens[:, 0], 3).float()


def _tokenizer(texts):
    return torch.tensor([[["red", "green", "blue"].index(t.split()[-1])] for t in texts])


def test_zeroshot_accuracy_uses_classnames_and_templates():
    images = torch.zeros(6, 3, 4, 4, dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    for i, label in enumerate(labels):
        images[i, label] = 255
    dataset = ZeroShotSet("colours", images, labels, ["red", "green", "blue"], ["a {}", "the {}"])
    identity = BatchTransform(4, train=False, mean=(0, 0, 0), std=(1, 1, 1))
    features = encode_images(_ColourModel(), images, identity)
    assert zeroshot_accuracy(_ColourModel(), _tokenizer, dataset, features)["top1"] == 1.0
    wrong = ZeroShotSet("colours", images, (labels + 1) % 3, ["red", "green", "blue"], ["a {}"])
    assert zeroshot_accuracy(_ColourModel(), _tokenizer, wrong, features)["top1"] == 0.0
