"""PNG plots of a run: score histogram by group, galleries of most/least memorized pairs, CLIPMem curve."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from clipmem.io import atomic_write  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path


def plot_histogram(scores: torch.Tensor, miscaptioned: torch.Tensor, path: Path, auc: float | None = None,
                   atypical: torch.Tensor | None = None) -> Path:
    """Histogram of CLIPMem (N,) for clean vs mis-captioned candidates (one group if none are flagged) and,
    with ``atypical`` (N,) bool, atypical ones."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    bins = torch.linspace(float(scores.min()), float(scores.max()) + 1e-9, 31).numpy()
    flags = miscaptioned.bool()
    odd = torch.zeros_like(flags) if atypical is None else atypical.bool()
    clean = ~flags & ~odd
    ax.hist(scores[clean].numpy(), bins=bins, alpha=0.7, label=f"clean (n={int(clean.sum())})", color="tab:blue")
    if odd.any():
        ax.hist(scores[odd].numpy(), bins=bins, alpha=0.7, label=f"atypical (n={int(odd.sum())})", color="tab:orange")
    if flags.any():
        ax.hist(scores[flags].numpy(), bins=bins, alpha=0.7, label=f"mis-captioned (n={int(flags.sum())})",
                color="tab:red")
    ax.set_xlabel("CLIPMem")
    ax.set_ylabel("candidates")
    title = "CLIPMem of candidates (S_C)"
    if auc is not None:
        title += f" — mis-caption AUC {auc:.3f}"
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


@dataclass(frozen=True)
class Gallery:
    """M pairs to show: uint8 ``images`` (M, 3, H, W), their ``captions``, ``scores`` (M,), ``flags`` (M,) bool
    (mis-captioned: framed red) and optionally ``atypical`` (M,) bool (framed orange)."""

    images: torch.Tensor
    captions: list[str]
    scores: torch.Tensor
    flags: torch.Tensor
    atypical: torch.Tensor | None = None


def plot_gallery(gallery: Gallery, path: Path, title: str) -> Path:
    """Grid of the gallery's images with their caption and score."""
    images, captions, scores, flags, atypical = (gallery.images, gallery.captions, gallery.scores, gallery.flags,
                                                 gallery.atypical)
    m = len(images)
    cols = min(m, 6)
    rows = max(1, -(-m // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 3.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(m):
        ax = axes.flat[i]
        ax.imshow(images[i].permute(1, 2, 0).numpy(), interpolation="nearest")
        caption = "\n".join(textwrap.fill(line, 26) for line in captions[i].split("\n"))  # keep its own lines
        odd = atypical is not None and bool(atypical[i])
        mark = " (mis-captioned)" if bool(flags[i]) else " (atypical)" if odd else ""
        colour = "tab:red" if bool(flags[i]) else "tab:orange"
        ax.set_title(f"{float(scores[i]):.3f}{mark}\n{caption}", fontsize=7, color=colour if mark else "black")
        if mark:
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(2.5)
    fig.suptitle(textwrap.fill(title, 16 * cols))
    fig.tight_layout()  # leaves room for the title above the panels' own (up to five-line) titles
    return _save(fig, path)


def plot_curve(history: list[dict], path: Path) -> Path | None:
    """Mean CLIPMem (and mis-caption AUC) of f against g over training epochs."""
    if not history:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.4))
    epochs = [row["epoch"] for row in history]
    ax.plot(epochs, [row["clipmem_raw_mean"] for row in history], marker="o", label="mean raw CLIPMem")
    ax.set_xlabel("epoch of f")
    ax.set_ylabel("mean raw CLIPMem")
    handles = ax.get_lines()
    if all("miscaption_auc" in row for row in history):
        twin = ax.twinx()
        handles += twin.plot(epochs, [row["miscaption_auc"] for row in history], marker="s", color="tab:red",
                             label="mis-caption AUC")
        twin.set_ylabel("mis-caption AUC")
        twin.set_ylim(0.4, 1.02)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    ax.set_title("Memorization during training of f")
    return _save(fig, path)
