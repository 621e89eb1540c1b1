"""CLIPMem as pure functions over embeddings (docs/method.md, "The score").

Notation: for a model h, ``s_h(I, T) = <e_I, e_T>`` with unit-norm embeddings. For a candidate pair x:

* alignment   ``A_h(x) = mean_k s_h(aug_k(I), aug_k(T))`` over K paired draws of image augmentation
  and caption;
* contrast    ``C_h(x) = ½ [ mean_{(I',T')∈S_E} s_h(I, T') + mean_{(I',T')∈S_E} s_h(I', T) ]``, where I and
  T are averaged over the same K draws. Cosine similarity is linear in each argument, so the means
  over S_E and over the K views reduce to dot products with centroids: O((N + M)·D), not O(N·M·K·D);
* ``L_h = A_h − C_h`` (or ``A_h`` when the contrast term is off);
* raw CLIPMem ``m(x) = L_f(x) − L_g(x)``, then normalised over the scored set.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from clipmem.scoring.config import NORMALISATIONS


@dataclass(frozen=True)
class ViewEmbeddings:
    """Embeddings of N pairs under K paired draws: ``image`` and ``text`` are (N, K, D), unit-norm."""

    image: torch.Tensor
    text: torch.Tensor

    def __post_init__(self) -> None:
        if self.image.shape != self.text.shape or self.image.ndim != 3:
            raise ValueError(f"image and text views must both be (N, K, D); got {tuple(self.image.shape)} "
                             f"and {tuple(self.text.shape)}")


@dataclass(frozen=True)
class Reference:
    """Embeddings of the held-out pairs S_E: ``image`` and ``text`` are (M, D), unit-norm."""

    image: torch.Tensor
    text: torch.Tensor


def model_value(align: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """L_h = A_h − C_h, each (N,): the one definition of a model's per-sample statistic."""
    return align - contrast


def clipmem_raw(value_in: torch.Tensor, value_out: torch.Tensor) -> torch.Tensor:
    """Raw CLIPMem m(x) = L_in(x) − L_out(x): the statistic of the model (or mean over the models) that trained on x
    minus that of the one(s) that did not; the one definition every design and the in-training callback use."""
    return value_in - value_out


def alignment(views: ViewEmbeddings) -> torch.Tensor:
    """A_h: mean over K draws of the cosine similarity of each pair's image and caption. (N,)."""
    return (views.image * views.text).sum(-1).mean(-1)


def contrast(views: ViewEmbeddings, reference: Reference) -> torch.Tensor:
    """C_h: mean similarity of each pair's image to S_E captions and caption to S_E images, halved. (N,)."""
    image_to_texts = views.image.mean(1) @ reference.text.mean(0)
    text_to_images = views.text.mean(1) @ reference.image.mean(0)
    return 0.5 * (image_to_texts + text_to_images)


def out_of_fold_contrast(views: ViewEmbeddings, outside: torch.Tensor) -> torch.Tensor:
    """C_h against the model's own unseen pairs (``design=crossfit``, no held-out S_E), (N,).

    ``outside`` (N,) bool marks the scored pairs the model did not train on; they are the reference: each
    pair's image against their captions and caption against their images, a pair never against itself.
    The means reduce to centroids as in ``contrast``; an unseen pair's own term is taken out of the sum.
    """
    image, text = views.image.mean(1), views.text.mean(1)  # (N, D): each pair averaged over its K draws
    count = int(outside.sum())
    if count < 2:
        raise ValueError(f"out-of-fold contrast needs at least 2 unseen pairs, got {count}")
    weight = outside.to(image.dtype).unsqueeze(1)
    text_sum, image_sum = (text * weight).sum(0), (image * weight).sum(0)
    own = outside.to(image.dtype)
    to_texts = (image @ text_sum - own * (image * text).sum(1)) / (count - own)
    to_images = (text @ image_sum - own * (image * text).sum(1)) / (count - own)
    return 0.5 * (to_texts + to_images)


def normalise(raw: torch.Tensor, method: str = "minmax") -> torch.Tensor:
    """Scale raw scores over the scored set: ``minmax`` to [0, 1], ``range`` divide by max − min, ``none``.

    A constant set maps to 0 under ``minmax`` and stays unscaled under ``range``.
    """
    if method not in NORMALISATIONS:
        raise ValueError(f"scoring.normalisation must be one of {NORMALISATIONS}, got {method!r}")
    if method == "none" or raw.numel() == 0:
        return raw.clone()
    spread = raw.max() - raw.min()
    if method == "minmax":
        return (raw - raw.min()) / spread if spread > 0 else torch.zeros_like(raw)
    return raw / spread if spread > 0 else raw.clone()


def model_statistic(views: ViewEmbeddings, reference: Reference, use_contrast: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """One model's per-sample statistic parts (A_h, C_h), each (N,); C_h is zeros when ``use_contrast`` is off."""
    align = alignment(views)
    return align, contrast(views, reference) if use_contrast else torch.zeros_like(align)


def pair_scores(align_f: torch.Tensor, contrast_f: torch.Tensor, align_g: torch.Tensor, contrast_g: torch.Tensor,
                normalisation: str = "minmax") -> dict[str, torch.Tensor]:
    """CLIPMem of pairs that f trained on and g did not, from both models' parts (each (N,)).

    Keys: ``align_f``, ``align_g``, ``contrast_f``, ``contrast_g``, ``clipmem_raw`` = L_f − L_g and
    ``clipmem`` = normalise(clipmem_raw).
    """
    raw = clipmem_raw(model_value(align_f, contrast_f), model_value(align_g, contrast_g))
    return {
        "align_f": align_f,
        "align_g": align_g,
        "contrast_f": contrast_f,
        "contrast_g": contrast_g,
        "clipmem_raw": raw,
        "clipmem": normalise(raw, normalisation),
    }


def clipmem_scores(
    views_f: ViewEmbeddings,
    views_g: ViewEmbeddings,
    reference_f: Reference,
    reference_g: Reference,
    use_contrast: bool = True,
    normalisation: str = "minmax",
) -> dict[str, torch.Tensor]:
    """Per-candidate CLIPMem and its parts; every value is (N,).

    Keys: ``align_f``, ``align_g``, ``contrast_f``, ``contrast_g`` (zeros when ``use_contrast`` is
    False), ``clipmem_raw`` = L_f − L_g and ``clipmem`` = normalise(clipmem_raw).
    """
    align_f, contrast_f = model_statistic(views_f, reference_f, use_contrast)
    align_g, contrast_g = model_statistic(views_g, reference_g, use_contrast)
    return pair_scores(align_f, contrast_f, align_g, contrast_g, normalisation)
