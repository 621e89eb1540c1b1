"""UnitMem: how much single units of an encoder's layers concentrate on single samples (Wang et al., "Localizing
Memorization in SSL Vision Encoders", NeurIPS 2024; docs/paradigms.md, "UnitMem per layer").

For a unit u of a layer and N samples, μ_u(x) is u's activation on sample x averaged over the tokens (ViT: every
patch and the class token; text: every token up to the end-of-text token; ResNet: every position) and over K
augmentations of x. With μ_max the largest of the N means and μ_−max the median of the other N − 1,

    UnitMem(u) = (μ_max − μ_−max) / (μ_max + μ_−max),

in [0, 1] for activations ≥ 0: 0 when no sample stands out, 1 when one sample alone activates the unit. The
activations are those after the layer's non-linearity: a ViT block's MLP hidden units after GELU (clamped at 0:
GELU's negative part, at most 0.17 deep, is taken as "not active"), a ResNet bottleneck's output after its
last ReLU. A unit whose means are all 0 has no UnitMem (NaN) and is left out of the layer mean.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from clipmem.errors import ConfigError


def unitmem(means: torch.Tensor) -> torch.Tensor:
    """UnitMem (U,) of U units from their per-sample mean activations ``means`` (N, U), N ≥ 2, values ≥ 0.

    μ_−max is the median (the mean of the two middle values for an even count) of the N − 1 means left after
    removing one occurrence of the maximum."""
    if means.ndim != 2 or means.shape[0] < 2:
        raise ValueError(f"means must be (N ≥ 2 samples, U units), got {tuple(means.shape)}")
    ordered = means.double().sort(dim=0).values
    top, rest = ordered[-1], ordered[:-1]
    median = torch.quantile(rest, 0.5, dim=0)
    total = top + median
    return torch.where(total > 0, (top - median) / total.where(total > 0, torch.ones_like(total)),
                       torch.full_like(total, float("nan")))


def layer_mean(values: torch.Tensor) -> float:
    """The mean UnitMem of a layer's units (NaN units left out)."""
    keep = ~torch.isnan(values)
    return float(values[keep].mean()) if bool(keep.any()) else float("nan")


def activation_layers(tower: torch.nn.Module) -> list[torch.nn.Module]:
    """The modules whose outputs are a tower's per-layer activations after the non-linearity, in depth order:
    a transformer's blocks' ``mlp.gelu`` (image or text), a ResNet's bottlenecks' ``act3``."""
    blocks = getattr(getattr(tower, "transformer", tower), "resblocks", None)
    if blocks is not None:
        return [block.mlp[1] for block in blocks]
    bottlenecks = [m for name in ("layer1", "layer2", "layer3", "layer4")
                   for m in getattr(getattr(tower, name, None), "children", lambda: [])()]
    if bottlenecks and all(hasattr(m, "act3") for m in bottlenecks):
        return [m.act3 for m in bottlenecks]
    raise ConfigError(f"UnitMem: no layers found in a {type(tower).__name__} tower; supported are open_clip's "
                      "ViT and text transformers and its ModifiedResNet")


def token_mean(output: torch.Tensor, batch_first: bool, mask: torch.Tensor | None) -> torch.Tensor:
    """(B, U) mean over tokens (or positions) of one layer's output clamped at 0: (B, T, U) / (T, B, U) tokens,
    (B, U, H, W) maps; ``mask`` (B, T) bool keeps some tokens only (text up to end-of-text)."""
    out = output.float().clamp(min=0)
    if out.ndim == 4:
        return out.mean((2, 3))
    if not batch_first:
        out = out.transpose(0, 1)
    if mask is None:
        return out.mean(1)
    weights = mask.to(out.dtype).unsqueeze(-1)
    return (out * weights).sum(1) / weights.sum(1).clamp(min=1)


@contextmanager
def layer_outputs(layers: list[torch.nn.Module], reduce: Callable[[torch.Tensor], torch.Tensor]
                  ) -> Iterator[list[torch.Tensor | None]]:
    """Forward hooks that keep ``reduce`` of each layer's output (on the CPU) from the last forward pass."""
    store: list[torch.Tensor | None] = [None] * len(layers)

    def hook(index: int):
        def keep(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            store[index] = reduce(output.detach()).cpu()
        return keep

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


def captured(layers: list[torch.nn.Module], batch_first: bool, mask: Callable[[], torch.Tensor | None]
             ) -> contextlib.AbstractContextManager[list[torch.Tensor | None]]:
    """Forward hooks that keep each layer's token-mean activations (B, U) of the last forward pass."""
    return layer_outputs(layers, lambda output: token_mean(output, batch_first, mask()))


def batch_first_of(tower: torch.nn.Module) -> bool:
    return bool(getattr(getattr(tower, "transformer", tower), "batch_first", True))


Batches = Callable[[int], Iterator[tuple[torch.Tensor, torch.Tensor | None]]]


@torch.no_grad()
def mean_activations(tower: torch.nn.Module, forward: Callable[[torch.Tensor], object], inputs: Batches,
                     passes: int) -> list[torch.Tensor]:
    """Per layer of ``tower`` (``activation_layers``), (N, U) activations averaged over ``passes`` passes of the N
    samples: ``inputs(k)`` yields the batches of pass k as (input, token mask or None) in sample order, and
    ``forward`` runs the tower on an input."""
    layers = activation_layers(tower)
    current: dict[str, torch.Tensor | None] = {"mask": None}
    sums: list[torch.Tensor] | None = None
    with captured(layers, batch_first_of(tower), lambda: current["mask"]) as store:
        for k in range(passes):
            rows: list[list[torch.Tensor]] = [[] for _ in layers]
            for x, mask in inputs(k):
                current["mask"] = mask
                forward(x)
                for i, value in enumerate(store):
                    rows[i].append(value)
            stacked = [torch.cat(r).double() for r in rows]
            sums = stacked if sums is None else [s + t for s, t in zip(sums, stacked, strict=True)]
    return [s / passes for s in sums or []]
