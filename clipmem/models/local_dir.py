"""Save and load models in open_clip's "local-dir" format, plus clipmem's provenance record.

A model directory holds ``open_clip_config.json`` and ``open_clip_model.safetensors`` (so
``open_clip.create_model_and_transforms("local-dir:<dir>")`` loads it) and ``clipmem_meta.json``
(role, split manifest hash, training-config fingerprint, steps) used to refuse mismatched f/g pairs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from clipmem.data.batches.transforms import OPENAI_MEAN, OPENAI_STD
from clipmem.errors import RunDirError, one_line
from clipmem.io import atomic_write, atomic_write_json
from clipmem.models.factory import build_clip
from clipmem.rundir import MODEL_CONFIG_NAME as CONFIG_NAME
from clipmem.rundir import MODEL_META_NAME as META_NAME
from clipmem.rundir import MODEL_WEIGHTS_NAME as WEIGHTS_NAME


def save_local_dir(model: torch.nn.Module, model_cfg: dict[str, Any], directory: Path, meta: dict[str, Any]) -> None:
    """Write model weights, open_clip config and provenance ``meta`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    preprocess = {
        "size": model_cfg["vision_cfg"]["image_size"],
        "mean": list(OPENAI_MEAN),
        "std": list(OPENAI_STD),
        "interpolation": "bicubic",
        "resize_mode": "shortest",
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, str(tmp)))
    atomic_write_json(directory / CONFIG_NAME, {"model_cfg": model_cfg, "preprocess_cfg": preprocess})
    atomic_write_json(directory / META_NAME, meta)


def load_local_dir(directory: Path) -> tuple[torch.nn.Module, dict[str, Any], dict[str, Any]]:
    """Load (model in eval mode, model_cfg, meta) from a model directory written by ``save_local_dir``."""
    directory = Path(directory)
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME, META_NAME) if not (directory / n).is_file()]
    if missing:
        raise RunDirError(f"{directory} is not a saved clipmem model: missing {', '.join(missing)}")
    try:
        model_cfg = json.loads((directory / CONFIG_NAME).read_text())["model_cfg"]
        meta = json.loads((directory / META_NAME).read_text())
    except (json.JSONDecodeError, KeyError, UnicodeDecodeError) as err:
        raise RunDirError(f"{directory}: unreadable {CONFIG_NAME} or {META_NAME} ({type(err).__name__}: "
                          f"{one_line(err)})") from err
    model = build_clip(model_cfg)
    weights = directory / WEIGHTS_NAME
    try:
        model.load_state_dict(load_file(str(weights)))
    except (SafetensorError, OSError, RuntimeError) as err:
        raise RunDirError(f"{weights}: not loadable weights ({type(err).__name__}: {one_line(err)}); the file is "
                          "damaged or from another architecture") from err
    return model.eval(), model_cfg, meta
