"""open_clip models: factory, LightningModule, local-dir save/load."""

from clipmem.models.factory import build_clip, resolve_model_cfg
from clipmem.models.module import CLIPModule

__all__ = ["CLIPModule", "build_clip", "resolve_model_cfg"]
