"""The ``data`` section as one validated object: what data, how it splits, how batches are served."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from clipmem.data.batches.transforms import BatchTransform
from clipmem.data.reference import check_reference_source, reference_source
from clipmem.data.sources.bad_samples import check_policy
from clipmem.data.sources.base import features_of
from clipmem.data.sources.synthetic import ATYPICAL_STYLES
from clipmem.data.splits.atypical import check_renderer
from clipmem.data.splits.manifest import SPLIT_NAMES
from clipmem.errors import ConfigError

MISCAPTION_SETS = ("candidate", "independent")  # the splits mis-captions (and atypical samples) may be injected into
log = logging.getLogger(__name__)


def whole_number(value: Any, key: str, minimum: int | None = None) -> int:
    """``value`` as an int; ConfigError naming ``key`` for text, booleans or fractions (50.7 is not 50)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{key} must be a whole number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{key} must be a whole number, got {value!r}") from None
    if not number.is_integer():
        raise ConfigError(f"{key} must be a whole number, got {value!r}")
    if minimum is not None and number < minimum:
        raise ConfigError(f"{key} must be ≥ {minimum}, got {value!r}")
    return int(number)


def warn_upsampling(source: Any, key: str, image_size: int) -> bool:
    """One warning line when a source that decodes image files caches them below the model's input size
    (every image would then be upsampled on every batch); True when it warned. Rendered sources (the
    synthetic data) draw small images by design and are not checked."""
    resolution = getattr(source, "resolution", None) if features_of(source).decodes_files else None
    if resolution is None or int(resolution) >= int(image_size):
        return False
    log.warning("%s=%d px is below the model's input (model.image_size=%d): images are upsampled %.1fx on every "
                "batch; leave %s unset to cache them at the model's size", key, resolution, image_size,
                image_size / resolution, key)
    return True


def _named(source: Any, name: str) -> Any:
    """A zero-shot source whose ``name`` is its ``data.zeroshot`` key, so messages and records name that key."""
    if dataclasses.is_dataclass(source) and getattr(source, "name", name) != name:
        return dataclasses.replace(source, name=name)
    return source


def _fraction_and_sets(section: dict[str, Any], name: str, allowed: tuple[str, ...]) -> tuple[float, list[str]]:
    """``data.<name>.fraction`` in [0, 1] and ``data.<name>.sets`` (a non-empty list of S_C / S_I), checked."""
    unknown = set(section) - set(allowed)
    if unknown:
        raise ConfigError(f"data.{name} has unknown keys {sorted(unknown)}; allowed: {list(allowed)}")
    fraction = float(section.get("fraction", 0.0))
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"data.{name}.fraction must be in [0, 1], got {fraction}")
    sets = list(section.get("sets", MISCAPTION_SETS))
    if not sets or not set(sets) <= set(MISCAPTION_SETS) or len(set(sets)) != len(sets):
        raise ConfigError(f"data.{name}.sets must be a non-empty list of {list(MISCAPTION_SETS)}, got {sets}")
    return fraction, sets


@dataclass(frozen=True)
class DataSettings:
    """``data`` (conf/data/*.yaml, docs/configuration.md): the source and everything built from it.

    Args:
        source: object with ``load() -> ImageTextTable`` (``clipmem.data.sources.base.DataSource``).
        splits: sizes {shared, candidate, independent, extra} of S_S, S_C, S_I, S_E; S_S may be 0 (and S_E too,
            for ``design=crossfit``, which holds nothing out), and
            ``candidate: auto, independent: auto`` split what S_S and S_E leave in two halves.
        split_seed: draws the split and the injected mis-captions (``${seed}`` by default).
        batch_size: global training batch size, divided across devices.
        image_size: model input side in pixels.
        context_length: tokenizer context length of the model.
        augment: ``scale`` and ``ratio`` ranges of the training crop.
        train_captions: captions per pair used in training and scoring draws (1 = the primary caption).
        miscaption: ``fraction`` of the pairs of each split in ``sets`` (default S_C and S_I, so that f and g
            see equally many wrong pairs) whose captions are exchanged within that split (ground truth);
            ``labels``: their labels follow the new captions (mislabeled pairs, for the supervised family).
        atypical: ``fraction`` of the pairs of each split in ``sets`` (none of them mis-captioned) re-rendered in
            a rare ``style`` (``stripes`` or ``noise``; synthetic data only): the atypical ground truth.
        zeroshot: name -> source with ``load() -> ZeroShotSet``.
        num_workers: DataLoader workers (0 is fastest here: data is in memory).
        eval_batch_size: batch size of evaluation encoders.
        on_bad_sample: ``error`` or ``skip`` (what file-based sources do with a bad sample).
        caption_augment: set by the ``text_augment`` mitigation: ``(captions, sample_id) -> extra captions``
            with a ``copies`` attribute; never from YAML.
        reference_path: a CSV of trusted pairs with the columns of ``source``, read by it: every model trains on
            them (they join S_S), none is scored or audited (``clipmem.data.reference``); None: no reference.
    """

    source: Any
    splits: dict[str, int | str]
    split_seed: int
    batch_size: int
    image_size: int
    context_length: int
    augment: dict[str, Any]
    train_captions: int
    miscaption: dict[str, Any]
    zeroshot: dict[str, Any]
    num_workers: int
    eval_batch_size: int
    on_bad_sample: str
    atypical: dict[str, Any] = field(default_factory=lambda: {"fraction": 0.0, "sets": list(MISCAPTION_SETS),
                                                                  "style": ATYPICAL_STYLES[0]})
    caption_augment: Any = None
    reference_path: str | None = None

    def __post_init__(self) -> None:
        check_policy(self.on_bad_sample)
        if self.reference_path is not None:
            check_reference_source(self.source)
        self._check_splits()
        for key, minimum in (("split_seed", None), ("batch_size", 1), ("image_size", 8), ("context_length", 1),
                             ("train_captions", 1), ("num_workers", 0), ("eval_batch_size", 1)):
            object.__setattr__(self, key, whole_number(getattr(self, key), f"data.{key}", minimum))
        self._check_miscaption()
        self._check_atypical()
        self.transform(train=True)  # checks data.augment
        object.__setattr__(self, "zeroshot", {str(k): _named(v, str(k)) for k, v in (self.zeroshot or {}).items()})
        warn_upsampling(self.source, "data.source.resolution", self.image_size)
        for name, source in self.zeroshot.items():
            warn_upsampling(source, f"data.zeroshot.{name}.resolution", self.image_size)

    def _check_miscaption(self) -> None:
        fraction, sets = _fraction_and_sets(self.miscaption, "miscaption", ("fraction", "sets", "labels"))
        labels = self.miscaption.get("labels", False)
        if not isinstance(labels, bool):
            raise ConfigError(f"data.miscaption.labels must be true or false, got {labels!r}")
        object.__setattr__(self, "miscaption", {"fraction": fraction, "sets": sets, "labels": labels})

    def _check_atypical(self) -> None:
        fraction, sets = _fraction_and_sets(self.atypical or {}, "atypical", ("fraction", "sets", "style"))
        style = (self.atypical or {}).get("style", ATYPICAL_STYLES[0])
        if style not in ATYPICAL_STYLES:
            raise ConfigError(f"data.atypical.style must be one of {list(ATYPICAL_STYLES)}, got {style!r}")
        check_renderer(self.source, fraction)
        object.__setattr__(self, "atypical", {"fraction": fraction, "sets": sets, "style": style})

    def _check_splits(self) -> None:
        given = dict(self.splits or {})
        unknown, missing = set(given) - set(SPLIT_NAMES), set(SPLIT_NAMES) - set(given)
        if unknown or missing:
            raise ConfigError(f"data.splits must have exactly the keys {list(SPLIT_NAMES)}; "
                              f"unknown: {sorted(unknown)}, missing: {sorted(missing)}")
        auto = given["candidate"] == "auto" and given["independent"] == "auto"
        sizes = {name: "auto" if auto and name in ("candidate", "independent") else
                 whole_number(given[name], f"data.splits.{name}", 0 if name in ("shared", "extra") else 1)
                 for name in SPLIT_NAMES}
        if sizes["candidate"] != sizes["independent"]:
            raise ConfigError(
                f"data.splits.candidate ({sizes['candidate']}) must equal data.splits.independent "
                f"({sizes['independent']}) so that f and g train on the same number of samples"
            )
        object.__setattr__(self, "splits", sizes)

    def check_sources(self) -> None:
        """Let the source and the zero-shot sources check their paths (``check()``) before anything loads."""
        for source in (self.source, *self.zeroshot.values()):
            check = getattr(source, "check", None)
            if callable(check):
                check()
        if self.reference_path is not None:
            reference_source(self.source, self.reference_path)

    @property
    def cache_dir(self) -> str | None:
        """The source's ``cache_dir``: where decoded images and a frozen image tower's features are kept between
        runs (None: a source without one, or unset)."""
        return getattr(self.source, "cache_dir", None)

    @property
    def streaming(self) -> bool:
        return bool(getattr(self.source, "streaming", False))

    def transform(self, train: bool) -> BatchTransform:
        """The training crop (``train``) or the evaluation resize, at ``image_size``."""
        if not train:
            return BatchTransform(self.image_size, train=False)
        try:
            return BatchTransform(self.image_size, train=True, **dict(self.augment or {}))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"data.augment: {err}") from None

    def replace(self, **changes: Any) -> DataSettings:
        """A copy with ``changes`` (what a mitigation's ``configure_data`` returns)."""
        return dataclasses.replace(self, **changes)
