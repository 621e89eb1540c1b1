"""The audit on a user's CSV: every row listed, suspicion and flags consistent, clean.csv = input − flagged."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from clipmem.audit.statistics import flag, robust_z, suspicion_statistics
from clipmem.errors import ConfigError
from clipmem.run import run_experiment

from .conftest import compose_config, load_settings_for
from .data_fixtures import write_pairs

TINY = ["experiment=audit", "design.models=4", "trainer.max_epochs=2", "scoring.num_views=2", "logger=none",
        "checkpoints=false", "data.source.resolution=32", "data.splits.extra=20", "data.miscaption.fraction=0.1"]


def test_statistics_are_computed_from_the_right_models():
    membership = torch.tensor([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=torch.bool)
    align = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    contrast = torch.zeros(4, 2)
    values = suspicion_statistics(align, contrast, membership)
    assert torch.allclose(values["memorization"], torch.tensor([0.8 - 0.3, 0.7 - 0.2], dtype=torch.float64))
    assert torch.allclose(values["low_consistency"], torch.tensor([-0.3, -0.2], dtype=torch.float64))
    assert torch.allclose(values["clipscore"], torch.tensor([-0.2, -0.1], dtype=torch.float64))  # first out model
    z = robust_z(torch.tensor([0.0, 1.0, 2.0, 3.0, 100.0]))
    assert flag(torch.tensor([0.0, 1.0, 2.0, 3.0, 100.0]), 3.0).tolist() == [False, False, False, False, True]
    assert float(z[2]) == 0.0


def test_an_audit_needs_the_in_out_design_and_clean_needs_a_csv():
    with pytest.raises(ConfigError, match="audit.enabled needs design=inout"):
        load_settings_for(["audit.enabled=true"])
    with pytest.raises(ConfigError, match="audit.write_clean needs a CSV source"):
        load_settings_for(["audit.enabled=true", "design=inout", "audit.write_clean=true"])


def test_audit_lists_every_row_and_clean_csv_drops_exactly_the_flagged(tmp_path):
    paths = write_pairs(tmp_path / "pairs", 160)
    run_dir = tmp_path / "run"
    metrics = run_experiment(compose_config([*TINY, f"data.source.path={paths['csv']}", "audit.write_clean=true",
                                             "audit.threshold=1.0", f"run_dir={run_dir}"]))
    with (run_dir / "audit.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["sample_id"]) for r in rows) == list(range(160))  # every input row, once
    audited = [r for r in rows if r["role"] == "audited"]
    assert len(audited) == 140 and {r["role"] for r in rows} == {"audited", "held_out"}
    suspicion = [float(r["suspicion"]) for r in audited]
    assert suspicion == sorted(suspicion, reverse=True)  # most suspicious first
    flagged = {int(r["sample_id"]) for r in audited if r["flagged"] == "1"}
    assert metrics["audit_num_flagged"] == len(flagged) > 0
    for r in audited:
        assert float(r["memorization_low"]) <= float(r["memorization"]) <= float(r["memorization_high"])
    with paths["csv"].open() as f:
        source = list(csv.reader(f))
    with (run_dir / "clean.csv").open() as f:
        clean = list(csv.reader(f))
    assert clean[0] == source[0] and clean[1:] == [row for i, row in enumerate(source[1:]) if i not in flagged]
    assert "audit_auc_combined" in metrics and "audit_auc_clipscore" in metrics
    assert (run_dir / "report" / "most_suspicious.png").is_file()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "complete"
