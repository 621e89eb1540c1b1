"""The mitigation protocol: a class with hooks; ``conf/mitigation/<name>.yaml`` names it by ``_target_``.

A mitigation applies to every model of a plan alike (f and g, or all models of a design), so the
models still differ only in their training ids. Hooks, each a no-op by default:

* ``configure_data(data)``: a changed ``DataSettings`` (more captions or images per pair, augmented captions);
* ``embedding_noise()``: noise the CLIP module adds to the loss's embeddings while training;
* ``select_removal(manifest)``: ids of S_C and S_I to leave out after the split is drawn.

Each class validates its own arguments in its constructor (one-line ``ConfigError``). Adding a
mitigation = its class, its YAML, its test; nothing else changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from clipmem.data.settings import DataSettings
    from clipmem.data.splits.manifest import SplitManifest
    from clipmem.mitigations.hooks import EmbeddingNoise, Removal


class Mitigation:
    """Base class: no change to training. ``name`` labels the mitigation in sweep tables."""

    name: ClassVar[str] = "none"

    def configure_data(self, data: DataSettings) -> DataSettings:
        """The data settings every model trains with (default: unchanged)."""
        return data

    def embedding_noise(self) -> EmbeddingNoise | None:
        """Noise added to the image/text embeddings in the training loss (default: none)."""
        return None

    def select_removal(self, manifest: SplitManifest) -> Removal | None:
        """Ids to leave out of training and scoring once the split is drawn (default: none)."""
        return None


class NoMitigation(Mitigation):
    """``mitigation=none``: f and g train with the plain CLIP objective."""
