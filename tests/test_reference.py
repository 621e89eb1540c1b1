"""``data.reference_path``: trusted pairs every model trains on, never audited; their overlap with the audited
images is reported; sources and families that cannot take them are refused by name."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from clipmem.data.reference import join_reference
from clipmem.data.table import ImageTextTable
from clipmem.errors import ConfigError
from clipmem.reporting.summary import format_summary
from clipmem.run import run_experiment

from .conftest import compose_config, load_settings_for
from .data_fixtures import write_pairs
from .test_audit import TINY


def _subset(source: Path, target: Path, rows: range) -> Path:
    """A CSV of ``rows`` (data-row indices) of ``source``, in the same folder (so image paths resolve)."""
    with source.open(newline="") as f:
        header, *body = list(csv.reader(f))
    with target.open("w", newline="") as f:
        csv.writer(f).writerows([header, *(body[i] for i in rows)])
    return target


def _audit(tmp_path: Path, name: str, audited: Path, reference: Path) -> tuple[list[dict], dict]:
    run_dir = tmp_path / name
    metrics = run_experiment(compose_config([*TINY, f"data.source.path={audited}", f"data.reference_path={reference}",
                                             "audit.write_clean=true", f"run_dir={run_dir}"]))
    with (run_dir / "audit.csv").open() as f:
        return list(csv.DictReader(f)), metrics


def test_reference_pairs_are_trained_on_by_every_model_and_never_audited(tmp_path):
    paths = write_pairs(tmp_path / "pairs", 200)
    audited = _subset(paths["csv"], paths["csv"].parent / "audited.csv", range(121))
    reference = _subset(paths["csv"], paths["csv"].parent / "reference.csv", range(121, 200))
    rows, metrics = _audit(tmp_path, "run", audited, reference)
    assert sorted(int(r["sample_id"]) for r in rows) == list(range(121))  # the audited rows, each once, no other
    assert metrics["audit_reference_pairs"] == 79 and metrics["audit_reference_overlap"] == 0
    assert all(r["reference_overlap"] == "" for r in rows)
    splits = json.loads((tmp_path / "run" / "splits.json").read_text())
    assert sorted(splits["shared"]) == list(range(-79, 0))  # S_S: every model of the plan trains on it
    with (tmp_path / "run" / "clean.csv").open() as f:
        clean = [r["filepath"] for r in csv.DictReader(f)]
    flagged = {int(r["sample_id"]) for r in rows if r["flagged"] == "1"}
    assert clean == [f"images/{i}.png" for i in range(121) if i not in flagged]  # the audited CSV's rows only
    assert "reference pairs          79" in format_summary(metrics, tmp_path / "run")


def test_audited_images_among_the_reference_are_marked_and_warned(tmp_path):
    paths = write_pairs(tmp_path / "pairs", 121)
    reference = _subset(paths["csv"], paths["csv"].parent / "reference.csv", range(30))
    rows, metrics = _audit(tmp_path, "run", paths["csv"], reference)
    marked = {int(r["sample_id"]) for r in rows if r["reference_overlap"] in ("exact", "near")}
    assert set(range(30)) <= marked and metrics["audit_reference_overlap"] == len(marked)
    assert all(r["reference_overlap"] == "exact" for r in rows if int(r["sample_id"]) < 30)
    assert "not audited out of sample" in format_summary(metrics, tmp_path / "run")


def test_a_reference_that_cannot_be_used_is_refused_by_name(tmp_path):
    paths = write_pairs(tmp_path / "pairs", 20)
    with pytest.raises(ConfigError, match="data.reference_path: .*nowhere.csv not found"):
        load_settings_for(["data=csv", f"data.source.path={paths['csv']}", "data.splits.shared=5",
                           "data.splits.candidate=5", "data.splits.independent=5", "data.splits.extra=5",
                           f"data.reference_path={tmp_path / 'nowhere.csv'}"])
    with pytest.raises(ConfigError, match="data.reference_path needs a CSV source"):
        load_settings_for([f"data.reference_path={paths['csv']}"])  # the synthetic data has no CSV to mirror
    with pytest.raises(ConfigError, match="only the CLIP family"):
        load_settings_for(["data=csv", f"data.source.path={paths['csv']}", "data.splits.shared=5",
                           "data.splits.candidate=5", "data.splits.independent=5", "data.splits.extra=5",
                           f"data.reference_path={paths['csv']}", "+family@families.clip=clip",
                           "+family@families.supervised=supervised"])


def _table(ids: list[int], size: int = 8, keys: list[str] | None = None) -> ImageTextTable:
    return ImageTextTable(sample_ids=torch.tensor(ids), images=torch.zeros(len(ids), 3, size, size, dtype=torch.uint8),
                          captions=[[f"c{i}"] for i in ids], keys=keys)


def test_join_gives_reference_pairs_negative_ids_and_refuses_other_sizes():
    joined = join_reference(_table([0, 5], keys=["a", "b"]), _table([0, 1, 2]))
    assert joined.sample_ids.tolist() == [0, 5, -1, -2, -3]
    assert joined.keys == ["a", "b", "reference:0", "reference:1", "reference:2"]
    assert joined.caption_source.tolist() == [0, 5, -1, -2, -3] and not joined.miscaptioned.any()
    assert joined.counts["reference_pairs"] == 3
    with pytest.raises(ConfigError, match="its images are"):
        join_reference(_table([0]), _table([0], size=16))
