"""Model families: the same image tower trained as CLIP, supervised or self-supervised, each with its own
memorization score through the same estimators (docs/paradigms.md)."""

from clipmem.families.base import Family, ImageModel, ImageTowerModule
from clipmem.families.clip import CLIPFamily
from clipmem.families.ssl import SSLFamily, SSLModule
from clipmem.families.supervised import SupervisedFamily, SupervisedModule


def default_families() -> dict:
    """The family set of a run that names none: the CLIP family alone (the one place this default is written)."""
    return {"clip": CLIPFamily()}


__all__ = ["CLIPFamily", "Family", "ImageModel", "ImageTowerModule", "SSLFamily", "SSLModule", "SupervisedFamily",
           "SupervisedModule", "default_families"]
