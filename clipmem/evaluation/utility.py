"""Utility of a model, one function for during and after training, with one set of metric names.

Canonical names: ``zeroshot/<set>/top1`` (and top5), ``linear_probe/<set>/top1`` for every zero-shot set,
``retrieval/{i2t,t2i}_r{1,5}`` and (after training) ``val/loss`` on S_E. Callbacks log them as
``<model>/<name>``; metrics.json flattens them by one rule (``flat_metrics``): ``zeroshot_<set>_top1_<model>``,
plus the first set's numbers without its name (``zeroshot_top1_<model>``, the headline).
"""

from __future__ import annotations

import torch
from open_clip.loss import ClipLoss

from clipmem.data.experiment_data import ExperimentData
from clipmem.evaluation.encode import Batching, encode_images, encode_texts, eval_mode
from clipmem.evaluation.linear_probe import probe_accuracy
from clipmem.evaluation.retrieval import retrieval_recall
from clipmem.evaluation.zeroshot import zeroshot_accuracy

UTILITY_KINDS = ("zeroshot", "linear_probe", "retrieval")  # what the utility callback may compute during training
FINAL_KINDS = (*UTILITY_KINDS, "loss")  # what every trained model is measured on


@torch.no_grad()
def validation_loss(model: torch.nn.Module, data: ExperimentData, device: torch.device | str) -> dict[str, float]:
    """``val/loss``: the contrastive loss on S_E (primary captions, unaugmented images) in batches of
    ``data.batch_size``, averaged over pairs: the validation loss training logs, for the finished model."""
    pairs = data.pairs("extra")
    loss_fn, total, size = ClipLoss(), 0.0, data.batch_size
    batching = Batching(size, device)
    with eval_mode(model):
        for start in range(0, len(pairs.images), size):
            image = encode_images(model, pairs.images[start:start + size], data.eval_transform, batching)
            text = encode_texts(model, pairs.tokens[start:start + size, 0], batching)
            scale = model.logit_scale.exp().float().cpu()
            total += float(loss_fn(image, text, scale)) * len(image)
    return {"val/loss": total / max(len(pairs.images), 1)}


def retrieval_metrics(model: torch.nn.Module, data: ExperimentData, device: torch.device | str) -> dict[str, float]:
    """Recall@k of ``model`` on S_E (unaugmented images, primary captions): ``retrieval/<i2t|t2i>_r<k>``."""
    pairs, batching = data.pairs("extra"), Batching(data.eval_batch_size, device)
    with eval_mode(model):
        image = encode_images(model, pairs.images, data.eval_transform, batching)
        text = encode_texts(model, pairs.tokens[:, 0], batching)
    return {f"retrieval/{key}": value for key, value in retrieval_recall(image, text).items()}


def classification_metrics(model: torch.nn.Module, data: ExperimentData, device: torch.device | str,
                           zeroshot: bool = True, linear_probe: bool = True) -> dict[str, float]:
    """Zero-shot top-k and linear-probe top-1 on every zero-shot set, from one encoding of each set."""
    out: dict[str, float] = {}
    tokenizer, batching = data.tokenizer(), Batching(data.eval_batch_size, device)
    for name, dataset in data.zeroshot.items():
        with eval_mode(model):
            features = encode_images(model, dataset.images, data.eval_transform, batching)
        if zeroshot:
            accuracy = zeroshot_accuracy(model, tokenizer, dataset, features, device=device)
            out.update({f"zeroshot/{name}/{key}": value for key, value in accuracy.items()})
        if linear_probe:
            out[f"linear_probe/{name}/top1"] = probe_accuracy(features, dataset.labels, len(dataset.classnames))
    return out


def utility_metrics(model: torch.nn.Module, data: ExperimentData, device: torch.device | str,
                    kinds: tuple[str, ...] = UTILITY_KINDS) -> dict[str, float]:
    """Every utility metric of ``kinds`` (a subset of ``FINAL_KINDS``): accuracies and recalls as fractions in
    [0, 1], the loss in nats. Retrieval and the loss need held-out pairs: without S_E (``design=crossfit``)
    they are left out."""
    out: dict[str, float] = {}
    if "zeroshot" in kinds or "linear_probe" in kinds:
        out.update(classification_metrics(model, data, device, "zeroshot" in kinds, "linear_probe" in kinds))
    held_out = len(data.manifest.extra) > 0
    if "retrieval" in kinds and held_out:
        out.update(retrieval_metrics(model, data, device))
    if "loss" in kinds and held_out:
        out.update(validation_loss(model, data, device))
    return out


def flat_metrics(utility: dict[str, float], model: str, headline_set: str | None) -> dict[str, float]:
    """metrics.json keys of one model's utility: ``a/b/c`` -> ``a_b_c_<model>``; the ``headline_set``'s
    numbers also without its name (``zeroshot/<set>/top1`` -> ``zeroshot_top1_<model>``)."""
    out = {}
    for name, value in utility.items():
        out[f"{name.replace('/', '_')}_{model}"] = value
        kind, _, rest = name.partition("/")
        set_name, _, key = rest.partition("/")
        if key and set_name == headline_set:
            out[f"{kind}_{key}_{model}"] = value
    return out
