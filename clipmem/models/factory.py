"""Build open_clip CLIP models from a registry name or an inline config, untrained (``model.pretrained`` then
loads starting weights: ``clipmem.models.pretrained``)."""

from __future__ import annotations

import copy
from typing import Any

import open_clip
from open_clip.model import CLIP, CustomTextCLIP

from clipmem.errors import ConfigError
from clipmem.models.image_encoder import FrozenImageTower
from clipmem.models.sentence_text import SentenceTextTower


def resolve_model_cfg(arch: str | dict[str, Any], image_size: int, context_length: int) -> dict[str, Any]:
    """An open_clip ``model_cfg`` dict from a registry name (e.g. ``ViT-B-32``) or an inline dict.

    ``image_size`` and ``context_length`` override the architecture's own values so that the data
    pipeline and the model always agree.
    """
    if isinstance(arch, str):
        model_cfg = open_clip.get_model_config(arch)
        if model_cfg is None:
            raise ConfigError(f"model.arch: {arch!r} is not an open_clip architecture; "
                              f"see open_clip.list_models() for the {len(open_clip.list_models())} known names")
    else:
        model_cfg = copy.deepcopy(dict(arch))
    for key in ("embed_dim", "vision_cfg", "text_cfg"):
        if key not in model_cfg:
            raise ConfigError(
                f"model.arch is missing {key!r} (an open_clip model_cfg needs embed_dim, vision_cfg, text_cfg)"
            )
    model_cfg["vision_cfg"] = dict(model_cfg["vision_cfg"], image_size=int(image_size))
    model_cfg["text_cfg"] = dict(model_cfg["text_cfg"], context_length=int(context_length))
    return model_cfg


def build_clip(model_cfg: dict[str, Any]) -> CLIP | CustomTextCLIP:
    """Instantiate an untrained open_clip model from a ``model_cfg`` dict (no weights are loaded)."""
    config = copy.deepcopy(model_cfg)
    text_cfg = config.get("text_cfg", {})
    if "hf_model_name" in text_cfg:
        raise ConfigError("model.arch: Hugging Face text towers (text_cfg.hf_model_name) are built from the model hub "
                          "by the transformers package, which clipmem does not install; use a built-in text tower")
    if "timm_model_name" in config.get("vision_cfg", {}) and config["vision_cfg"].get("timm_model_pretrained"):
        raise ConfigError("model.arch: timm_model_pretrained downloads the tower from a model hub; set "
                          "timm_model_pretrained: false and load the whole model with model.pretrained=<file>")
    image_encoder = config.get("vision_cfg", {}).pop("image_encoder", None)
    if image_encoder is not None:
        size = int(config["vision_cfg"].get("image_size", 224))
        # open_clip builds a vision transformer first; the smallest one, replaced below
        config["vision_cfg"] = {"image_size": size, "patch_size": size, "width": 8, "layers": 1, "head_width": 8}
    encoder = text_cfg.pop("sentence_encoder", None)
    if encoder is not None:
        clip = sentence_text_clip(config, str(encoder))
    else:
        custom = config.pop("custom_text", False)
        clip = (CustomTextCLIP if custom else CLIP)(**config)
    if image_encoder is not None:
        clip.visual = FrozenImageTower(str(image_encoder), int(config["embed_dim"]))
    return clip


def sentence_text_clip(config: dict[str, Any], encoder: str) -> CustomTextCLIP:
    """A CustomTextCLIP whose text tower is a frozen sentence encoder plus a trainable projection
    (``text_cfg.sentence_encoder``; ``clipmem.models.sentence_text``)."""
    config.pop("custom_text", None)
    context_length = int(config["text_cfg"].get("context_length", 77))
    # open_clip builds a text transformer first; the smallest one, replaced at once
    config["text_cfg"] = {"context_length": context_length, "vocab_size": 1, "width": 8, "heads": 1, "layers": 1}
    clip = CustomTextCLIP(**config)
    clip.text = SentenceTextTower(encoder, int(config["embed_dim"]))
    return clip
