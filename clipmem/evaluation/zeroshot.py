"""Zero-shot classification accuracy with open_clip's classifier built from class names and templates."""

from __future__ import annotations

import torch
from open_clip import build_zero_shot_classifier
from torchmetrics.functional.classification import multiclass_accuracy

from clipmem.data.sources.base import ZeroShotSet
from clipmem.evaluation.encode import eval_mode


def zeroshot_accuracy(
    model: torch.nn.Module,
    tokenizer: object,
    dataset: ZeroShotSet,
    features: torch.Tensor,
    device: torch.device | str = "cpu",
    top_k: tuple[int, ...] = (1, 5),
) -> dict[str, float]:
    """Micro-averaged top-k accuracy (fractions in [0, 1]) of ``model`` on ``dataset``: {"top1": .., "top5": ..}.

    ``features``: the images' normalised embeddings (N, D) (``encode_images``; computed once by the caller and
    shared with the linear probe). The class embeddings are built from the class names and templates on ``device``.
    """
    with eval_mode(model), torch.no_grad():
        weights = build_zero_shot_classifier(
            model, tokenizer, dataset.classnames, dataset.templates, num_classes_per_batch=32, device=device
        ).float().cpu()  # (D, num_classes)
    logits = features @ weights
    num_classes = len(dataset.classnames)
    return {
        f"top{k}": float(multiclass_accuracy(logits, dataset.labels, num_classes, average="micro", top_k=k))
        for k in top_k
        if k <= num_classes
    }
