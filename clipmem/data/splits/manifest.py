"""Leave-candidates-out splits S_S, S_C, S_I, S_E and their manifest (``splits.json``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clipmem.errors import ConfigError, SplitError

SPLIT_NAMES = ("shared", "candidate", "independent", "extra")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitManifest:
    """Which sample ids are in which split, drawn from one seed.

    ``shared`` (S_S) trains f and g, ``candidate`` (S_C) only f, ``independent`` (S_I) only g,
    ``extra`` (S_E) neither. ``miscaptioned`` lists pairs of S_C and S_I whose captions were exchanged.
    ``removed`` lists ids of S_C and S_I that neither model trains on and that are not scored
    (``remove_topk`` mitigation); it enters the hash only when non-empty, so older manifests verify.
    ``mislabeled`` (pairs whose label followed their exchanged captions, ``data.miscaption.labels``) and
    ``atypical`` (pairs rendered in a rare style, ``data.atypical``) lie in S_C ∪ S_I and likewise enter the
    hash only when non-empty.
    ``near_duplicates`` lists groups of pool ids (S_C ∪ S_I ∪ S_E) whose images are exact or near duplicates of
    each other: designs that partition the pool keep each group on one side (enters the hash only when non-empty).
    ``fingerprints`` maps a split name to a sha256 of what its samples hold (decoded pixels and captions, see
    ``clipmem.data.splits.fingerprint``); re-scoring refuses data whose content changed. Manifests written before
    content fingerprints have none (and hash as before).
    """

    seed: int
    shared: tuple[int, ...]
    candidate: tuple[int, ...]
    independent: tuple[int, ...]
    extra: tuple[int, ...]
    miscaptioned: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    fingerprints: dict[str, str] = field(default_factory=dict)
    mislabeled: tuple[int, ...] = ()
    atypical: tuple[int, ...] = ()
    near_duplicates: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        validate_disjoint({name: getattr(self, name) for name in SPLIT_NAMES})
        for name in ("miscaptioned", "mislabeled", "atypical"):
            if not set(getattr(self, name)) <= set(self.candidate) | set(self.independent):
                raise SplitError(f"manifest: every {name} id must be in S_C or S_I")
        if len(set(self.removed)) != len(self.removed):
            raise SplitError("manifest: a removed id is listed twice")
        if not set(self.removed) <= set(self.candidate) | set(self.independent):
            raise SplitError("manifest: every removed id must be in S_C or S_I")
        pool = set(self.candidate) | set(self.independent) | set(self.extra)
        if any(not set(group) <= pool for group in self.near_duplicates):
            raise SplitError("manifest: every near-duplicate group must lie in S_C, S_I or S_E")

    def blocks(self, ids: tuple[int, ...]) -> list[list[int]]:
        """Positions in ``ids`` grouped so that near-duplicates (``near_duplicates``) share a block; every other id
        is a block of its own. Blocks in order of their first position."""
        position = {sid: i for i, sid in enumerate(ids)}
        blocks, placed = [], set()
        group_of = {sid: group for group in self.near_duplicates for sid in group}
        for i, sid in enumerate(ids):
            if i in placed:
                continue
            members = [position[m] for m in group_of.get(sid, (sid,)) if m in position]
            placed.update(members)
            blocks.append(sorted(members))
        return blocks

    def kept(self, split: str) -> tuple[int, ...]:
        """Ids of ``split`` minus the removed ones (S_C minus removed is what gets scored)."""
        if split not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {SPLIT_NAMES}, got {split!r}")
        removed = set(self.removed)
        return tuple(i for i in getattr(self, split) if i not in removed)

    @property
    def sizes(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in SPLIT_NAMES}

    def train_ids(self, role: str) -> tuple[int, ...]:
        """Training ids of model ``role``: f trains on S_S ∪ S_C, g on S_S ∪ S_I (minus ``removed``)."""
        if role == "f":
            return self.shared + self.kept("candidate")
        if role == "g":
            return self.shared + self.kept("independent")
        raise ValueError(f"role must be 'f' or 'g', got {role!r}")

    def content(self) -> dict:
        """Everything the hash covers, as plain JSON types."""
        return {
            "seed": self.seed,
            "sizes": self.sizes,
            **{name: list(getattr(self, name)) for name in SPLIT_NAMES},
            "miscaptioned": list(self.miscaptioned),
            **({"removed": list(self.removed)} if self.removed else {}),
            **({"mislabeled": list(self.mislabeled)} if self.mislabeled else {}),
            **({"atypical": list(self.atypical)} if self.atypical else {}),
            **({"near_duplicates": [list(g) for g in self.near_duplicates]} if self.near_duplicates else {}),
            **({"content_sha256": dict(sorted(self.fingerprints.items()))} if self.fingerprints else {}),
        }

    @property
    def sha256(self) -> str:
        blob = json.dumps(self.content(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    def removal_counts(self) -> dict[str, int]:
        """How many ids of S_C and of S_I were removed, and how many of those were mis-captioned
        (metrics.json keys ``num_removed_<set>``, ``num_removed_miscaptioned_<set>``; empty without removal)."""
        if not self.removed:
            return {}
        removed, wrong = set(self.removed), set(self.miscaptioned)
        out = {}
        for split in ("candidate", "independent"):
            ids = removed & set(getattr(self, split))
            out[f"num_removed_{split}"] = len(ids)
            out[f"num_removed_miscaptioned_{split}"] = len(ids & wrong)
        return out

    def to_json(self) -> str:
        return json.dumps({**self.content(), "sha256": self.sha256}, indent=1)

    @classmethod
    def from_json(cls, text: str, source: str = "splits.json") -> SplitManifest:
        """Parse and verify a manifest; a hash mismatch means the file was edited or corrupted."""
        try:
            data = json.loads(text)
            manifest = cls(
                seed=int(data["seed"]),
                **{name: tuple(int(i) for i in data[name]) for name in SPLIT_NAMES},
                miscaptioned=tuple(int(i) for i in data.get("miscaptioned", [])),
                removed=tuple(int(i) for i in data.get("removed", [])),
                mislabeled=tuple(int(i) for i in data.get("mislabeled", [])),
                atypical=tuple(int(i) for i in data.get("atypical", [])),
                near_duplicates=tuple(tuple(int(i) for i in g) for g in data.get("near_duplicates", [])),
                fingerprints={str(k): str(v) for k, v in data.get("content_sha256", {}).items()},
            )
        except (KeyError, TypeError, ValueError) as err:
            raise SplitError(f"{source}: not a valid split manifest ({err})") from err
        if data.get("sha256") != manifest.sha256:
            raise SplitError(f"{source}: sha256 does not match its content (edited or corrupted)")
        return manifest

    @classmethod
    def read(cls, path: str | Path) -> SplitManifest:
        path = Path(path)
        if not path.is_file():
            raise SplitError(f"no split manifest at {path}")
        return cls.from_json(path.read_text(), source=str(path))


def validate_disjoint(splits: dict[str, tuple[int, ...] | list[int]]) -> None:
    """Raise SplitError if S_C or S_I is empty, a split holds a duplicate id, or shares an id with another (S_S
    may be empty: an audit trains every model on pool pairs only; S_E too: ``design=crossfit`` holds none out)."""
    seen: dict[int, str] = {}
    for name, ids in splits.items():
        if len(ids) == 0 and name not in ("shared", "extra"):
            raise SplitError(f"split {name!r} is empty")
        if len(set(ids)) != len(ids):
            raise SplitError(f"split {name!r} lists a sample id twice")
        for i in ids:
            if i in seen:
                raise SplitError(f"sample id {i} is in both {seen[i]!r} and {name!r}")
            seen[i] = name


def resolve_sizes(sizes: dict[str, int | str], available: int) -> dict[str, int]:
    """Split sizes with ``"auto"`` candidate/independent filled in from the ``available`` samples."""
    if sizes["candidate"] != "auto" and sizes["independent"] != "auto":
        return {name: int(sizes[name]) for name in SPLIT_NAMES}
    if sizes["candidate"] != sizes["independent"]:
        raise SplitError("data.splits.candidate and data.splits.independent must both be auto, or both numbers")
    left = available - int(sizes["shared"]) - int(sizes["extra"])
    if left < 2:
        held = int(sizes["shared"]) + int(sizes["extra"])
        advice = "; lower them" if held > 0 and available >= 2 else ": the data needs more samples"
        raise SplitError(f"data.splits: the data has {available} samples; shared={sizes['shared']} and "
                         f"extra={sizes['extra']} leave {left} for candidate and independent (auto), which need at "
                         f"least 2{advice}")
    half, odd = left // 2, left % 2
    if int(sizes["extra"]) == 0:  # nothing held out (design=crossfit): the odd one joins S_C, S_E stays empty
        return {"shared": int(sizes["shared"]), "candidate": half + odd, "independent": half, "extra": 0}
    return {"shared": int(sizes["shared"]), "candidate": half, "independent": half,
            "extra": int(sizes["extra"]) + odd}


def make_splits(sample_ids: np.ndarray | list[int], sizes: dict[str, int], seed: int) -> SplitManifest:
    """Draw disjoint S_S, S_C, S_I, S_E of the given sizes from ``sample_ids`` with one seed.

    sizes: {"shared", "candidate", "independent", "extra"} -> count (shared and extra ≥ 0, the others ≥ 1,
    candidate == independent); ``candidate`` and ``independent`` may both be ``"auto"``: each then takes half
    of what ``shared`` and ``extra`` leave (an odd one out joins ``extra``, so every sample is in a split; with
    ``extra`` 0, which only ``design=crossfit`` accepts, it joins ``candidate`` and S_E stays empty).
    """
    auto_without_extra = sizes.get("candidate") == "auto" and int(sizes.get("extra", 1)) == 0
    unknown = set(sizes) - set(SPLIT_NAMES)
    missing = set(SPLIT_NAMES) - set(sizes)
    if unknown or missing:
        raise SplitError(f"data.splits must have exactly the keys {SPLIT_NAMES}; "
                         f"unknown: {sorted(unknown)}, missing: {sorted(missing)}")
    sizes = resolve_sizes(sizes, len(sample_ids))
    for name in SPLIT_NAMES:
        least = 0 if name in ("shared", "extra") else 1
        if int(sizes[name]) < least:
            raise SplitError(f"data.splits.{name} must be ≥ {least}, got {sizes[name]}")
    if sizes["candidate"] != sizes["independent"] and not auto_without_extra:
        raise SplitError(
            f"data.splits.candidate ({sizes['candidate']}) must equal data.splits.independent "
            f"({sizes['independent']}) so that f and g train on the same number of samples"
        )
    total = sum(int(sizes[n]) for n in SPLIT_NAMES)
    ids = np.sort(np.asarray(sample_ids, dtype=np.int64))
    if total > len(ids):
        raise SplitError(
            f"data.splits need {total} samples (" + " + ".join(f"{n}={sizes[n]}" for n in SPLIT_NAMES)
            + f") but the data has only {len(ids)}"
        )
    drawn = np.random.default_rng([seed, 0x5B17]).permutation(ids)[:total]
    bounds = np.cumsum([0] + [int(sizes[n]) for n in SPLIT_NAMES])
    parts = {
        name: tuple(sorted(int(i) for i in drawn[start:stop]))
        for name, start, stop in zip(SPLIT_NAMES, bounds[:-1], bounds[1:], strict=True)
    }
    return SplitManifest(seed=seed, **parts)


def check_manifest(built: SplitManifest, saved: SplitManifest, source: str) -> None:
    """Refuse to go on if splits rebuilt from the config differ from a saved manifest: other ids, or (where the
    saved manifest has content fingerprints) other pixels or captions in a split."""
    ids_only = {"fingerprints": {}}
    if dataclasses.replace(built, **ids_only).sha256 != dataclasses.replace(saved, **ids_only).sha256:
        raise ConfigError(
            f"{source}: the splits rebuilt from the config (sha256 {built.sha256[:12]}) differ from "
            f"the saved manifest (sha256 {saved.sha256[:12]}); the data or the split config changed"
        )
    if not saved.fingerprints:
        log.warning("%s predates content fingerprints: only the sample ids of each split can be checked", source)
    changed = [name for name, digest in saved.fingerprints.items() if built.fingerprints.get(name) != digest]
    if changed:
        raise ConfigError(
            f"{source}: the data changed since the models were trained: the images or captions of "
            f"{', '.join(changed)} differ from their fingerprints; restore the data the run used, or train again"
        )
