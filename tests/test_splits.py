import json

import numpy as np
import pytest

from clipmem.data import SplitManifest, make_splits
from clipmem.errors import SplitError

SIZES = {"shared": 60, "candidate": 10, "independent": 10, "extra": 10}


def test_splits_are_disjoint_sized_and_seeded():
    a = make_splits(np.arange(100), SIZES, seed=0)
    assert a.sizes == SIZES
    all_ids = a.shared + a.candidate + a.independent + a.extra
    assert len(set(all_ids)) == 90
    assert make_splits(np.arange(100), SIZES, seed=0) == a
    assert make_splits(np.arange(100), SIZES, seed=1) != a


def test_train_ids_differ_only_in_candidate_vs_independent():
    m = make_splits(np.arange(100), SIZES, seed=0)
    f, g = set(m.train_ids("f")), set(m.train_ids("g"))
    assert f - g == set(m.candidate) and g - f == set(m.independent)
    assert not (f | g) & set(m.extra)


def test_manifest_round_trip_and_tamper_detection(tmp_path):
    m = make_splits(np.arange(100), SIZES, seed=0)
    path = tmp_path / "splits.json"
    path.write_text(m.to_json())
    assert SplitManifest.read(path) == m
    data = json.loads(path.read_text())
    data["candidate"][0], data["extra"][0] = data["extra"][0], data["candidate"][0]
    path.write_text(json.dumps(data))
    with pytest.raises(SplitError, match="sha256"):
        SplitManifest.read(path)


def test_sizes_larger_than_data():
    with pytest.raises(SplitError, match="need 90 samples .* only 50"):
        make_splits(np.arange(50), SIZES, seed=0)


@pytest.mark.parametrize("bad", [{"candidate": 0, "independent": 0}, {"extra": -1}, {"shared": -1}])
def test_empty_split(bad):
    with pytest.raises(SplitError, match="must be ≥ [01]"):
        make_splits(np.arange(100), {**SIZES, **bad}, seed=0)


def test_an_audit_split_has_no_shared_set_and_halves_the_rest():
    manifest = make_splits(np.arange(101), {"shared": 0, "candidate": "auto", "independent": "auto", "extra": 10},
                           seed=0)
    assert manifest.shared == () and len(manifest.candidate) == len(manifest.independent) == 45
    assert len(manifest.extra) == 11  # the odd one out: every sample is in some split
    with pytest.raises(SplitError, match="both be auto"):
        make_splits(np.arange(101), {"shared": 0, "candidate": "auto", "independent": 5, "extra": 10}, seed=0)


def test_a_crossfit_audit_split_holds_nothing_out_and_keeps_every_sample():
    """extra 0 (design=crossfit): S_E stays empty and the odd one out joins S_C, so every sample is audited."""
    manifest = make_splits(np.arange(101), {"shared": 0, "candidate": "auto", "independent": "auto", "extra": 0},
                           seed=0)
    assert manifest.extra == () and (len(manifest.candidate), len(manifest.independent)) == (51, 50)
    assert sorted(manifest.candidate + manifest.independent) == list(range(101))
    even = make_splits(np.arange(100), {"shared": 0, "candidate": "auto", "independent": "auto", "extra": 0}, seed=0)
    assert len(even.candidate) == len(even.independent) == 50


def test_candidate_and_independent_must_match():
    with pytest.raises(SplitError, match="candidate .* must equal"):
        make_splits(np.arange(100), {**SIZES, "independent": 9}, seed=0)


def test_unknown_split_name():
    with pytest.raises(SplitError, match="unknown"):
        make_splits(np.arange(100), {**SIZES, "holdout": 3}, seed=0)


def test_overlapping_manifest_is_refused():
    with pytest.raises(SplitError, match="both"):
        SplitManifest(seed=0, shared=(1, 2), candidate=(3,), independent=(2,), extra=(4,))


def test_removal_counts_name_removed_and_miscaptioned_ids_per_set():
    manifest = SplitManifest(seed=0, shared=(0,), candidate=(1, 2, 3, 4), independent=(5, 6, 7), extra=(8,),
                             miscaptioned=(2, 3, 6), removed=(2, 4, 6, 7))
    assert manifest.removal_counts() == {
        "num_removed_candidate": 2, "num_removed_miscaptioned_candidate": 1,
        "num_removed_independent": 2, "num_removed_miscaptioned_independent": 1,
    }
    assert SplitManifest(seed=0, shared=(0,), candidate=(1,), independent=(2,), extra=(3,)).removal_counts() == {}
