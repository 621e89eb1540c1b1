"""Linear-probe accuracy on frozen image features: the paper's utility metric.

Each zero-shot set's images are split once into probe-train and probe-test halves (fixed seed); a
multinomial logistic regression is fitted in torch on the frozen, normalised (then standardised with
probe-train statistics) image embeddings by full-batch L-BFGS, and top-1 is measured on the probe-test
half. Deterministic on the CPU: no random initialisation (weights start at zero), fixed split.
"""

from __future__ import annotations

import torch

PROBE_SEED = 0
PROBE_L2 = 1e-3
PROBE_MAX_ITER = 100


def probe_halves(n: int, seed: int = PROBE_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the probe-train (first ⌈n/2⌉ of a seeded permutation) and probe-test halves."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    cut = (n + 1) // 2
    return order[:cut], order[cut:]


def fit_logistic_regression(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, l2: float = PROBE_L2,
    max_iter: int = PROBE_MAX_ITER,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (D, C) and bias (C,) minimising mean cross-entropy + ``l2``·‖W‖² on features (N, D)."""
    x = features.double()
    weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-9, tolerance_change=1e-12, history_size=20)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight + bias, labels) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return weight.detach(), bias.detach()


def probe_accuracy(features: torch.Tensor, labels: torch.Tensor, num_classes: int, seed: int = PROBE_SEED) -> float:
    """Top-1 (fraction in [0, 1]) on the probe-test half of a probe fitted on the probe-train half."""
    train, test = probe_halves(len(labels), seed)
    if len(test) == 0:
        raise ValueError("a linear probe needs at least two images")
    mean = features[train].mean(0)
    std = features[train].std(0).clamp(min=1e-6) if len(train) > 1 else torch.ones_like(mean)
    x = (features - mean) / std
    weight, bias = fit_logistic_regression(x[train], labels[train], num_classes)
    predicted = (x[test].double() @ weight + bias).argmax(1)
    return float((predicted == labels[test]).double().mean())

