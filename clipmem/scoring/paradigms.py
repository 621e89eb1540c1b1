"""The per-sample statistics of the supervised and self-supervised families as pure functions
(docs/paradigms.md, "The three scores").

Every statistic is "higher = better fit" and comes in two parts (``align``, ``contrast``) whose difference is
the model's value L_h(x), as CLIP's A_h − C_h: so the designs' estimators (``L_in − L_out``) turn each into
its family's memorization score unchanged.

* supervised, ``prob``: A_h(x) = mean over K views of p_h(y | aug_k(x)), the softmax probability of the
  training label y; C_h = 0. In − out is Feldman's label memorization (with probabilities for 0/1 accuracy).
* supervised, ``margin``: A_h(x) = mean_k z_y, C_h(x) = mean_k max_{j≠y} z_j (logits z), so L_h is the mean
  margin of the training label.
* self-supervised: A_h(x) = −L_align(h, x), with L_align(h, x) = mean_k ‖ĥ(x) − ĥ(aug_k(x))‖₂ over K
  augmentations and ĥ the unit-norm representation; C_h = 0. In − out is SSLMem: L_align(g, x) − L_align(f, x).
"""

from __future__ import annotations

import torch

SUPERVISED_STATISTICS = ("prob", "margin")


def label_probability(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over views of the softmax probability of each sample's label: logits (N, K, C), labels (N,) -> (N,)."""
    probabilities = torch.softmax(logits.double(), dim=-1)
    index = labels.view(-1, 1, 1).expand(-1, logits.shape[1], 1)
    return probabilities.gather(-1, index).squeeze(-1).mean(-1).float()


def label_margin_parts(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean_k z_y, mean_k max_{j≠y} z_j), each (N,), from logits (N, K, C) and labels (N,)."""
    index = labels.view(-1, 1, 1).expand(-1, logits.shape[1], 1)
    own = logits.gather(-1, index).squeeze(-1)
    others = logits.scatter(-1, index, float("-inf")).amax(-1)
    return own.mean(-1).float(), others.mean(-1).float()


def supervised_parts(logits: torch.Tensor, labels: torch.Tensor, statistic: str = "prob"
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(align, contrast) of the supervised family (module docstring), each (N,)."""
    if statistic == "prob":
        value = label_probability(logits, labels)
        return value, torch.zeros_like(value)
    if statistic == "margin":
        return label_margin_parts(logits, labels)
    raise ValueError(f"statistic must be one of {SUPERVISED_STATISTICS}, got {statistic!r}")


def alignment_loss(plain: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
    """L_align: mean over K views of the ℓ2 distance between the unit-norm representation of each image
    (plain (N, D)) and of its augmentations (views (N, K, D)); (N,), in [0, 2]."""
    anchor = torch.nn.functional.normalize(plain.double(), dim=-1).unsqueeze(1)
    augmented = torch.nn.functional.normalize(views.double(), dim=-1)
    return (anchor - augmented).norm(dim=-1).mean(-1).float()


def ssl_parts(plain: torch.Tensor, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(align, contrast) of the self-supervised family: (−L_align, 0), each (N,)."""
    value = -alignment_loss(plain, views)
    return value, torch.zeros_like(value)
