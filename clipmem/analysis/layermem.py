"""LayerMem: the memorization score computed on each layer's representation of an image tower (Wang et al.,
"Localizing Memorization in SSL Vision Encoders", NeurIPS 2024; docs/paradigms.md, "LayerMem per layer").

For a model h, a layer l and a scored sample x, r_l(x) is the layer's output (a transformer block's residual
stream, a ResNet bottleneck's output) averaged over the tokens or positions. SSLMem's alignment statistic on it,

    L_l(h, x) = −mean_k ‖ r̂_l(x) − r̂_l(aug_k(x)) ‖₂     (r̂: unit-norm; the plain image against K augmentations),

is one per-model, per-sample statistic like any other, so the run's own design turns the models' values into
an in-minus-out score per sample (the pair: L_l(f, x) − L_l(g, x) on S_C, mirrored on S_I). LayerMem of layer l
is that score's mean over the scored samples, for every family alike: it asks at which depth the models that
trained on a sample represent it more stably than the models that did not.
"""

from __future__ import annotations

import contextlib

import torch

from clipmem.analysis.unitmem import batch_first_of, layer_outputs
from clipmem.errors import ConfigError
from clipmem.evaluation.encode import Batching, eval_mode
from clipmem.families.augment import ViewAugment, ViewParams
from clipmem.scoring.paradigms import ssl_parts


def representation_layers(tower: torch.nn.Module) -> list[torch.nn.Module]:
    """The modules whose outputs are a tower's per-layer representations, in depth order: a transformer's
    blocks, a ResNet's bottlenecks."""
    blocks = getattr(getattr(tower, "transformer", tower), "resblocks", None)
    if blocks is not None:
        return list(blocks)
    bottlenecks = [m for name in ("layer1", "layer2", "layer3", "layer4")
                   for m in getattr(getattr(tower, name, None), "children", lambda: [])()]
    if bottlenecks:
        return bottlenecks
    raise ConfigError(f"LayerMem: no layers found in a {type(tower).__name__} tower; supported are open_clip's "
                      "ViT and its ModifiedResNet")


def pooled(output: torch.Tensor, batch_first: bool) -> torch.Tensor:
    """(B, D) mean over tokens of a (B, T, D) / (T, B, D) block output, or over positions of a (B, D, H, W) map."""
    out = output.float()
    if out.ndim == 4:
        return out.mean((2, 3))
    return out.mean(1) if batch_first else out.mean(0)


def representations(tower: torch.nn.Module) -> contextlib.AbstractContextManager[list[torch.Tensor | None]]:
    """Forward hooks keeping each layer's pooled output (B, D) of the last forward pass of ``tower``."""
    batch_first = batch_first_of(tower)
    return layer_outputs(representation_layers(tower), lambda output: pooled(output, batch_first))


@torch.no_grad()
def layer_encodings(tower: torch.nn.Module, images: torch.Tensor, transform, augment: ViewAugment,
                    params: ViewParams, batching: Batching) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per layer: the plain images' representations (N, D) through the evaluation ``transform`` and their K
    augmentations' (N, K, D), augmentation k of sample i drawn from row k·N + i of ``params`` (K·N rows)."""
    n, batch_size, device = len(images), int(batching.size), batching.torch_device
    views = len(params.theta) // max(n, 1)
    if views * n != len(params.theta):
        raise ValueError(f"params hold {len(params.theta)} rows, not a multiple of the {n} images")
    passes: list[list[torch.Tensor]] = []  # pass (0: plain, k: augmentation k) -> layer -> (N, D)
    with eval_mode(tower), representations(tower) as store:
        for k in range(views + 1):
            batches: list[list[torch.Tensor]] = []
            for start in range(0, n, batch_size):
                chunk = images[start:start + batch_size].to(device)
                rows = slice((k - 1) * n + start, (k - 1) * n + start + len(chunk))
                tower(transform(chunk) if k == 0 else augment(chunk, params.rows(rows)))
                batches.append([value for value in store if value is not None])
            passes.append([torch.cat(layer) for layer in zip(*batches, strict=True)])
    plain = passes[0]
    return plain, [torch.stack([p[i] for p in passes[1:]], dim=1) for i in range(len(plain))]


def layer_statistics(plain: list[torch.Tensor], views: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, SSLMem's (align, contrast) = (−L_align, 0) of the representations, each (N,)."""
    return [ssl_parts(p, v) for p, v in zip(plain, views, strict=True)]
