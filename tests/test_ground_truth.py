"""The two kinds of ground truth: mislabeled pairs (labels follow exchanged captions) and atypical samples
(re-rendered in a rare style), both deterministic, disjoint and recorded in splits.json."""

from __future__ import annotations

import pytest
import torch

from clipmem.data import SplitManifest, SyntheticSource
from clipmem.data.sources import synthetic
from clipmem.data.splits.atypical import inject_atypical
from clipmem.errors import ConfigError

from .conftest import build_data_for, load_settings_for

SMALL = ["debug=fast", "data.atypical.fraction=0.1", "data.miscaption.labels=true"]


@pytest.fixture(scope="module")
def data():
    return build_data_for(SMALL)


def test_atypical_samples_are_drawn_in_each_split_apart_from_the_miscaptioned(data):
    manifest = data.manifest
    atypical = set(manifest.atypical)
    assert len(atypical & set(manifest.candidate)) == 5 and len(atypical & set(manifest.independent)) == 5
    assert not atypical & set(manifest.miscaptioned)  # three disjoint groups: atypical, mis-captioned, clean
    flagged = data.table.sample_ids[data.table.atypical]
    assert set(flagged.tolist()) == atypical


def test_atypical_images_are_restyled_and_keep_their_captions_and_labels(data):
    plain = SyntheticSource(num_samples=600).load()
    changed = (data.table.images != plain.images).flatten(1).any(1)
    assert torch.equal(changed, data.table.atypical)  # exactly the atypical images differ from the plain render
    pos = data.table.positions(list(data.manifest.atypical))
    assert all(data.table.captions[int(p)] == plain.captions[int(p)] for p in pos)
    assert torch.equal(data.table.labels[pos], plain.labels[pos])
    # the stripes: far more contrast between neighbouring pixels than the usual low-amplitude texture
    def edges(images: torch.Tensor) -> float:
        return float((images[:, :, :, 1:].float() - images[:, :, :, :-1].float()).abs().mean())
    assert edges(data.table.images[pos]) > 2 * edges(plain.images[pos])


def test_atypical_injection_is_deterministic_and_seeded():
    again = build_data_for(SMALL)
    first = build_data_for(SMALL)
    assert first.manifest.atypical == again.manifest.atypical
    assert torch.equal(first.table.images, again.table.images)
    other = build_data_for([*SMALL, "data.split_seed=1"])
    assert set(other.manifest.atypical) != set(first.manifest.atypical)


def test_mislabeled_pairs_carry_the_label_of_their_new_captions(data):
    manifest, table = data.manifest, data.table
    plain = SyntheticSource(num_samples=600).load()
    assert set(manifest.mislabeled) == set(manifest.miscaptioned) and len(manifest.mislabeled) == 10
    pos = table.positions(list(manifest.mislabeled))
    donors = plain.positions(table.caption_source[pos])
    assert torch.equal(table.labels[pos], plain.labels[donors])  # the label the captions describe
    assert (table.labels[pos] != plain.labels[pos]).all()  # and never the image's own
    clean = ~table.mislabeled
    assert torch.equal(table.labels[clean], plain.labels[clean])


def test_ground_truth_is_recorded_in_the_manifest_and_the_default_hash_is_unchanged(data, tmp_path):
    path = tmp_path / "splits.json"
    path.write_text(data.manifest.to_json())
    read = SplitManifest.read(path)
    assert read.atypical == data.manifest.atypical and read.mislabeled == data.manifest.mislabeled
    assert read.sha256 == data.manifest.sha256
    plain = build_data_for(["debug=fast"]).manifest
    assert "atypical" not in plain.content() and "mislabeled" not in plain.content()  # older manifests verify
    without_labels = build_data_for(["debug=fast", "data.atypical.fraction=0.1"]).manifest
    assert without_labels.mislabeled == () and without_labels.miscaptioned == data.manifest.miscaptioned


def test_inject_atypical_refuses_more_than_the_clean_pairs():
    table = SyntheticSource(num_samples=20).load()
    with pytest.raises(ConfigError, match="data.atypical.fraction"):
        inject_atypical(table, list(range(10)), 1.5, 0, 0, lambda ids: None)
    restyled = inject_atypical(table, list(range(10)), 0.3, 0, 0,
                               lambda ids: synthetic.render(synthetic.sample_scenes(ids, 0), 32, style="noise"))
    assert int(restyled.atypical.sum()) == 3 and not table.atypical.any()  # the input table is left as it was


@pytest.mark.parametrize("override, message", [
    ("data.atypical.style=plaid", "data.atypical.style must be one of"),
    ("data.atypical.fraction=2", "data.atypical.fraction must be in"),
    ("data.miscaption.labels=maybe", "data.miscaption.labels must be true or false"),
])
def test_bad_ground_truth_settings_stop_in_one_line(override, message):
    with pytest.raises(ConfigError, match=message):
        load_settings_for([override])


def test_atypical_needs_a_source_that_renders_it(tmp_path):
    csv = tmp_path / "pairs.csv"
    csv.write_text("filepath,title\na.png,a cat\n")
    with pytest.raises(ConfigError, match="data.atypical.fraction=0.1 needs a source that renders"):
        load_settings_for(["data=csv", f"data.source.path={csv}", "data.atypical.fraction=0.1"])
