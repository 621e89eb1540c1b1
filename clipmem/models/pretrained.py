"""Starting weights for a model (``model.pretrained``): an open_clip pretrained tag, a checkpoint file, or a
``local-dir:`` model folder (what clipmem saves under ``models/<name>/``).

Every model of a plan loads the same file after its seeded initialisation, so f and g (and every model of
a design) start from identical weights whatever their training seeds. open_clip's ``load_checkpoint`` does
the loading: it unwraps ``{"state_dict": ...}`` and ``module.`` prefixes, converts older layouts and resizes
positional embeddings when ``model.image_size`` differs from the checkpoint's.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import open_clip
import torch

from clipmem.errors import ConfigError, one_line

log = logging.getLogger("clipmem")

LOCAL_DIR = "local-dir:"
CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
# The weight files of a local-dir folder, in the order open_clip prefers them.
LOCAL_DIR_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                     "open_clip_pytorch_model.bin", "model.safetensors", "pytorch_model.bin")
DEFAULT_CACHES = "open_clip's cache (~/.cache/huggingface/hub for hub weights, ~/.cache/clip for URL weights)"


def _local_dir_weights(folder: Path) -> Path:
    if not folder.is_dir():
        raise ConfigError(f"model.pretrained: no such folder {str(folder)!r} (local-dir:<folder> names a saved "
                          "model folder, e.g. outputs/<run>/models/f)")
    for name in LOCAL_DIR_WEIGHTS:
        if (folder / name).is_file():
            return folder / name
    raise ConfigError(f"model.pretrained: {folder} holds no weights file (looked for {list(LOCAL_DIR_WEIGHTS)})")


def _tag_weights(tag: str, arch: Any, cache_dir: str | None) -> Path:
    """The file of open_clip's pretrained ``tag`` of ``arch``: from the cache, else downloaded."""
    if not isinstance(arch, str):
        raise ConfigError(f"model.pretrained={tag!r} is neither a file nor a local-dir:<folder>, and an open_clip "
                          "tag needs model.arch to be a registry name (e.g. model=vit_b32), not an inline config")
    config = open_clip.get_pretrained_cfg(arch, tag)
    if not config:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise ConfigError(f"model.pretrained: {tag!r} is not a file, a local-dir:<folder> or an open_clip tag of "
                          f"{arch}; its tags: {tags or 'none'}; or give a checkpoint file "
                          f"(model.pretrained=/path/to/weights{{{','.join(CHECKPOINT_SUFFIXES)}}})")
    try:
        found = open_clip.download_pretrained(config, cache_dir=cache_dir)
    except Exception as err:  # no network, hub offline, a partial download: say where the weights must go
        where = cache_dir or DEFAULT_CACHES
        raise ConfigError(
            f"model.pretrained: cannot get the {tag!r} weights of {arch} ({type(err).__name__}: {one_line(err, 160)}); "
            f"offline, put them into {where} (run open_clip.create_model({arch!r}, pretrained={tag!r}) where there "
            "is network, then copy that cache here, or set model.cache_dir), or download the file and pass "
            "model.pretrained=/path/to/weights.safetensors") from None
    if not found or not Path(found).is_file():
        raise ConfigError(f"model.pretrained: open_clip found no weights file for {arch} {tag!r} in "
                          f"{cache_dir or DEFAULT_CACHES}")
    return Path(found)


def resolve_pretrained(pretrained: str, arch: Any, cache_dir: str | None = None) -> Path:
    """The weights file ``model.pretrained`` names: ``local-dir:<folder>``, a checkpoint file, or a tag."""
    text = str(pretrained).strip()
    if text.startswith(LOCAL_DIR):
        return _local_dir_weights(Path(text[len(LOCAL_DIR):]).expanduser())
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.suffix.lower() in CHECKPOINT_SUFFIXES or os.sep in text:
        raise ConfigError(f"model.pretrained: no such file {text!r} (a checkpoint: .safetensors, .pt, .pth or .bin "
                          "with the model's state dict)")
    return _tag_weights(text, arch, cache_dir)


def load_pretrained(model: torch.nn.Module, pretrained: str, arch: Any, cache_dir: str | None = None) -> Path:
    """Load ``pretrained`` into ``model`` (every parameter: strict). On the meta device only the keys and
    shapes are checked, so validation reads the file but allocates nothing. Returns the file loaded."""
    path = resolve_pretrained(pretrained, arch, cache_dir)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*copying from a non-meta parameter.*")
            open_clip.load_checkpoint(model, str(path), strict=True)
    except (RuntimeError, KeyError, ValueError, AssertionError) as err:  # open_clip asserts on resizes
        if not readable_checkpoint(path):
            raise unreadable(path, err) from None
        raise ConfigError(f"model.pretrained: {path} does not fit model.arch ({type(err).__name__}: "
                          f"{one_line(err, 240)}); pretrained weights must come from the same architecture") from None
    except Exception as err:  # safetensors' and pickle's own errors on a damaged or foreign file
        raise unreadable(path, err) from None
    if not any(p.is_meta for p in model.parameters()):  # a real load, not the validation's shape check
        log.info("model.pretrained: loaded %s (%d tensors, every parameter of the model matched)", path,
                 len(model.state_dict()))
    return path


def unreadable(path: Path, err: BaseException) -> ConfigError:
    return ConfigError(f"model.pretrained: {path} is not a readable checkpoint ({type(err).__name__}: "
                       f"{one_line(err, 160)}); is the file complete (a partial download) and a .safetensors, .pt, "
                       ".pth or .bin state dict?")


def readable_checkpoint(path: Path) -> bool:
    """Whether open_clip can read the file's state dict at all (separates a damaged file from a foreign model)."""
    from open_clip.factory import load_state_dict

    try:
        load_state_dict(str(path), device="cpu")  # safetensors refuses "meta"; only reached on a failed load
    except Exception:
        return False
    return True
