"""Retrain without the N most memorized pairs of an earlier run (``remove_topk`` mitigation).

The earlier run's ``scores.csv`` ranks the candidates S_C of the *same* split (same data and seed; its rows
of other sets are not used).
The N first by ``ranking`` leave S_C; N ids of S_I, drawn at random (seeded), leave g's set, so f and g
still train on equally many pairs. Both lists go into the manifest's ``removed`` (and its hash) and into
``removed.csv`` in the run directory; the remaining candidates are scored.

Rankings: ``clipmem`` (highest CLIPMem first), ``random`` (seeded baseline) and ``lowest_similarity``
(lowest CLIP similarity of the pair first: the column ``similarity_column``, by default ``align_f``,
the mean image–caption cosine similarity under the earlier f, which trained on the pair; ``align_g``
uses the model that did not, like filtering with an external CLIP).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipmem.data.settings import whole_number
from clipmem.data.splits.manifest import SplitManifest
from clipmem.errors import ConfigError
from clipmem.io import atomic_write
from clipmem.mitigations.base import Mitigation
from clipmem.mitigations.hooks import Removal
from clipmem.reporting.scores_csv import SCORE_COLUMNS, read_scores

RANKINGS = ("clipmem", "random", "lowest_similarity")
SIMILARITY_COLUMNS = (*SCORE_COLUMNS, "consistency")  # consistency: from an earlier design=inout/replicates run
REMOVED_COLUMNS = ("sample_id", "split", "rank", "ranking", "value")


def check_choice(ranking: str, similarity_column: str) -> None:
    if ranking not in RANKINGS:
        raise ConfigError(f"mitigation.ranking must be one of {list(RANKINGS)}, got {ranking!r}")
    if similarity_column not in SIMILARITY_COLUMNS:
        raise ConfigError(f"mitigation.similarity_column must be one of {list(SIMILARITY_COLUMNS)}, "
                          f"got {similarity_column!r}")


def _read(path: str | Path) -> list[dict]:
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "scores.csv"
    if not path.is_file():
        raise ConfigError(f"mitigation.scores: no scores.csv at {path}; give the scores.csv (or run directory) of an "
                          "earlier run with the same data and seed")
    try:
        rows = read_scores(path)
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"mitigation.scores: {path} is not a clipmem scores.csv ({type(err).__name__}: {err})"
        ) from err
    if not rows:
        raise ConfigError(f"mitigation.scores: {path} has no rows")
    missing = [c for c in ("sample_id", "clipmem") if c not in rows[0]]
    if missing:
        raise ConfigError(f"mitigation.scores: {path} is not a clipmem scores.csv (no column {missing[0]!r})")
    return rows


def choose_removal(
    scores: str | Path,
    manifest: SplitManifest,
    n: int,
    ranking: str = "clipmem",
    seed: int = 0,
    similarity_column: str = "align_f",
) -> Removal:
    """Pick the N candidates to remove by ``ranking`` and N random ids of S_I (seeded by ``seed``)."""
    check_choice(ranking, similarity_column)
    rows = sorted((r for r in _read(scores) if r["set"] == "candidate"), key=lambda r: r["sample_id"])
    foreign = sorted({r["sample_id"] for r in rows} - set(manifest.candidate))
    if foreign:
        raise ConfigError(
            f"mitigation.scores: {len(foreign)} sample ids (e.g. {foreign[:5]}) are not candidates (S_C) of this run's "
            "split; the earlier run must use the same data and seed"
        )
    n = int(n)
    if not 0 <= n <= len(rows):
        raise ConfigError(f"mitigation.n must be in [0, {len(rows)}] (the scored candidates), got {n}")
    if ranking == "clipmem":
        order = sorted(range(len(rows)), key=lambda i: -rows[i]["clipmem"])  # stable: ties by sample_id
        column = "clipmem"
    elif ranking == "lowest_similarity":
        order = sorted(range(len(rows)), key=lambda i: rows[i][similarity_column])
        column = similarity_column
    else:
        order = [int(i) for i in np.random.default_rng([seed, 0xDE1]).permutation(len(rows))]
        column = "clipmem"
    picked = order[:n]
    independent = np.random.default_rng([seed, 0xDE2]).choice(np.asarray(manifest.independent), size=n, replace=False)
    return Removal(
        ranking=ranking,
        candidate=tuple(rows[i]["sample_id"] for i in picked),
        values=tuple(rows[i][column] for i in picked),
        independent=tuple(sorted(int(i) for i in independent)),
    )


def write_removal(path: Path, removal: Removal) -> None:
    """``removed.csv``: one row per removed id; candidates with rank (1 = first removed) and ranking value."""
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(REMOVED_COLUMNS)
            for rank, (sid, value) in enumerate(zip(removal.candidate, removal.values, strict=True), start=1):
                writer.writerow([sid, "candidate", rank, removal.ranking, repr(float(value))])
            for sid in removal.independent:
                writer.writerow([sid, "independent", "", "random", ""])

    atomic_write(Path(path), write)


@dataclass(frozen=True)
class RemoveTopK(Mitigation):
    """``mitigation=remove_topk``: retrain without the ``n`` first candidates of an earlier run's
    ``scores`` by ``ranking`` (and ``n`` random ids of S_I, so f and g stay the same size)."""

    name = "remove_topk"
    scores: str | None = None
    n: int = 100
    ranking: str = "clipmem"
    similarity_column: str = "align_f"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.scores:
            raise ConfigError("mitigation=remove_topk needs mitigation.scores (the scores.csv or run directory of "
                              "an earlier run with the same data and seed; see conf/mitigation/remove_topk.yaml)")
        object.__setattr__(self, "n", whole_number(self.n, "mitigation.n", 0))
        check_choice(self.ranking, self.similarity_column)

    def select_removal(self, manifest: SplitManifest) -> Removal:
        return choose_removal(self.scores, manifest, self.n, self.ranking, self.seed, self.similarity_column)
