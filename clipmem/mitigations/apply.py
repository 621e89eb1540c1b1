"""Map a ``mitigation`` config to what it changes: CLIPModule kwargs and the data module's config.

f and g are built from the same mapped configs, so a mitigation always applies to both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from clipmem.errors import ConfigError

# name -> parameters it requires (besides ``name``).
MITIGATIONS: dict[str, tuple[str, ...]] = {
    "none": (),
    "multi_caption": ("k",),
    "multi_image": ("k",),
    "text_noise": ("sigma",),
    "image_noise": ("sigma",),
    "text_augment": ("copies",),
    "remove_topk": ("scores", "n", "ranking"),
}


def _plain(node: Any) -> dict[str, Any]:
    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True, throw_on_missing=False)
    return dict(node or {})


def validate(mitigation: Mapping[str, Any] | DictConfig) -> dict[str, Any]:
    """The mitigation config as a plain dict; ConfigError for an unknown name or a missing parameter."""
    spec = _plain(mitigation)
    name = spec.get("name")
    if name not in MITIGATIONS:
        raise ConfigError(f"mitigation.name must be one of {list(MITIGATIONS)}, got {name!r}")
    for key in MITIGATIONS[name]:
        if spec.get(key) in (None, "???"):
            raise ConfigError(f"mitigation={name} needs mitigation.{key} (see conf/mitigation/{name}.yaml)")
    if name in ("multi_caption", "multi_image") and int(spec["k"]) < 1:
        raise ConfigError(f"mitigation.k must be ≥ 1, got {spec['k']}")
    if name in ("text_noise", "image_noise") and float(spec["sigma"]) < 0:
        raise ConfigError(f"mitigation.sigma must be ≥ 0, got {spec['sigma']}")
    return spec


def module_kwargs(mitigation: Mapping[str, Any] | DictConfig) -> dict[str, Any]:
    """Keyword arguments for ``CLIPModule`` (empty for mitigations that only change the data)."""
    spec = validate(mitigation)
    name = spec["name"]
    if name not in ("text_noise", "image_noise"):
        return {}
    side = "text" if name == "text_noise" else "image"
    return {
        f"{side}_noise_std": float(spec["sigma"]),
        "noise_renormalize": bool(spec.get("renormalize", False)),
        "noise_seed": int(spec.get("seed", 0)),
    }


def data_config(data: DictConfig | Mapping[str, Any], mitigation: Mapping[str, Any] | DictConfig) -> dict[str, Any]:
    """The resolved ``data`` config with the mitigation's data-side changes, ready to instantiate.

    - ``multi_caption``: ``train_captions = k`` (the data module errors if the data has fewer).
    - ``multi_image``: ``source.views = k``; sources without a ``views`` option are refused.
    - ``text_augment``: a ``caption_augment`` object that adds augmented training captions.
    ``remove_topk`` changes the split after it is drawn (``clipmem.mitigations.remove_topk``).
    """
    spec = validate(mitigation)
    out = _plain(data)
    name = spec["name"]
    if name == "multi_caption":
        k = int(spec["k"])
        if int(out.get("train_captions", 1)) not in (1, k):
            raise ConfigError(f"mitigation=multi_caption sets data.train_captions to mitigation.k={k}, but "
                              f"data.train_captions={out['train_captions']} was also given; set only one of them")
        out["train_captions"] = k
    elif name == "multi_image":
        source = out.get("source") or {}
        if "views" not in source:
            raise ConfigError(f"mitigation=multi_image needs a data source that renders several images per "
                              f"caption (data.source.views); {source.get('_target_', 'this source')} has none. "
                              "Use data=synthetic or another source with a `views` option")
        source["views"] = int(spec["k"])
    elif name == "text_augment":
        out["caption_augment"] = {
            "_target_": "clipmem.mitigations.text_augment.CaptionAugmenter",
            **{key: value for key, value in spec.items() if key != "name"},
        }
    return out
