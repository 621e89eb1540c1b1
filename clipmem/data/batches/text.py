"""Caption tokenization with open_clip's BPE tokenizer (shipped in the package: no download)."""

from __future__ import annotations

import torch
from open_clip.tokenizer import SimpleTokenizer


def build_tokenizer(context_length: int) -> SimpleTokenizer:
    """open_clip's CLIP tokenizer producing (B, context_length) int64 token ids."""
    return SimpleTokenizer(context_length=context_length)


def tokenize_captions(captions: list[list[str]], tokenizer: SimpleTokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenize N lists of captions.

    Returns:
        tokens: (N, C, L) int64, C the largest caption count; short lists repeat their last caption.
        counts: (N,) int64, the number of real captions of each pair.
    """
    counts = torch.tensor([len(c) for c in captions], dtype=torch.int64)
    if len(captions) == 0:
        return torch.zeros(0, 1, tokenizer.context_length, dtype=torch.int64), counts
    if int(counts.min()) < 1:
        raise ValueError("every pair needs at least one caption")
    width = int(counts.max())
    flat = [c[min(j, len(c) - 1)] for c in captions for j in range(width)]
    tokens = tokenizer(flat).view(len(captions), width, -1)
    return tokens, counts
