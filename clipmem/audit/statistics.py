"""Suspicion statistics of an audit: pure functions of every model's per-sample statistics and membership.

Every statistic here is "higher = more suspicious". With values L_m(x) = A_m(x) − C_m(x), alignment
A_m(x) and membership (model m trained on x):

* ``memorization``: mean L of the models that trained on x minus that of the models that did not;
* ``low_consistency``: −(mean L of the models that did not): the rest of the data predicts x poorly;
* ``low_alignment``: −(mean A of the models that did not): an ensemble CLIP score without the contrast;
* ``combined``: robust z of memorization + robust z of low consistency (a wrong caption is poorly predicted
  by the rest of the data *and* memorized by the models that saw it);
* ``clipscore`` (the reference, not offered as suspicion): −A of one model that did not train on x, what
  CLIP-score filtering does with an external model.
"""

from __future__ import annotations

import torch

from clipmem.scoring.uncertainty import in_out_means

MAD_SCALE = 1.4826  # MAD -> standard deviation of a normal distribution


def robust_z(values: torch.Tensor) -> torch.Tensor:
    """(values − median) / (1.4826 · MAD), (N,); a constant vector gives zeros."""
    median = values.median()
    mad = (values - median).abs().median() * MAD_SCALE
    return (values - median) / mad if float(mad) > 0 else torch.zeros_like(values)


def first_out_model(membership: torch.Tensor) -> torch.Tensor:
    """(N,) index of the first model (in plan order) that did not train on each sample."""
    outside = (~membership.bool()).long()
    return torch.argmax(outside, dim=0)


def suspicion_statistics(align: torch.Tensor, contrast: torch.Tensor, membership: torch.Tensor
                         ) -> dict[str, torch.Tensor]:
    """Every statistic of the module docstring, each (N,) float64, from (M, N) ``align``, ``contrast`` and
    ``membership``; every sample must have at least one model that did and one that did not train on it."""
    values = (align - contrast).double()
    in_mean, out_mean = in_out_means(values, membership)
    _, out_align = in_out_means(align.double(), membership)
    memorization = in_mean - out_mean
    columns = torch.arange(values.shape[1])
    return {
        "memorization": memorization,
        "low_consistency": -out_mean,
        "low_alignment": -out_align,
        "combined": robust_z(memorization) + robust_z(-out_mean),
        "clipscore": -align.double()[first_out_model(membership), columns],
    }


def flag(suspicion: torch.Tensor, threshold: float) -> torch.Tensor:
    """(N,) bool: suspicion more than ``threshold`` robust standard deviations above the median."""
    return robust_z(suspicion) > threshold
