"""Scoring refuses f/g pairs that differ in more than S_C vs S_I."""

import copy

import numpy as np
import pytest

from clipmem.data import make_splits
from clipmem.errors import IncompatibleModelsError
from clipmem.scoring.compat import check_pair, ids_sha256

MANIFEST = make_splits(np.arange(100), {"shared": 60, "candidate": 10, "independent": 10, "extra": 10}, seed=0)
CONFIG = {"model": {"arch": "nano", "optimizer": {"lr": 0.001}}, "seed": 0, "trainer": {"max_epochs": 3}}


def meta(role, **changes):
    out = {
        "role": role,
        "manifest_sha256": MANIFEST.sha256,
        "train_ids_sha256": ids_sha256(MANIFEST.train_ids(role)),
        "global_step": 30,
        "training_config": copy.deepcopy(CONFIG),
    }
    out.update(changes)
    return out


def test_a_proper_pair_passes():
    check_pair(meta("f"), meta("g"), MANIFEST)


def test_swapped_roles():
    with pytest.raises(IncompatibleModelsError, match="roles"):
        check_pair(meta("g"), meta("f"), MANIFEST)


def test_different_manifest():
    with pytest.raises(IncompatibleModelsError, match="model g was trained on a different split manifest"):
        check_pair(meta("f"), meta("g", manifest_sha256="0" * 64), MANIFEST)


def test_wrong_training_ids():
    with pytest.raises(IncompatibleModelsError, match="model f was not trained on its split"):
        check_pair(meta("f", train_ids_sha256=ids_sha256(MANIFEST.train_ids("g"))), meta("g"), MANIFEST)


def test_hyper_parameter_difference_is_named():
    other = meta("g")
    other["training_config"]["model"]["optimizer"]["lr"] = 0.002
    with pytest.raises(IncompatibleModelsError, match=r"model\.optimizer\.lr"):
        check_pair(meta("f"), other, MANIFEST)


def test_step_counts_must_match():
    with pytest.raises(IncompatibleModelsError, match="step counts"):
        check_pair(meta("f"), meta("g", global_step=31), MANIFEST)
