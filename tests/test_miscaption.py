import pytest

from clipmem.data import SyntheticSource, make_splits
from clipmem.data.sources import synthetic
from clipmem.data.splits.miscaption import inject_miscaptions
from clipmem.errors import ConfigError


@pytest.fixture(scope="module")
def table():
    return SyntheticSource(num_samples=1000).load()


def test_fraction_of_candidates_is_miscaptioned_and_recorded(table):
    manifest = make_splits(table.sample_ids.numpy(), {"shared": 500, "candidate": 200, "independent": 200,
                                                      "extra": 100}, seed=0)
    out = inject_miscaptions(table, list(manifest.candidate), 0.1, seed=0)
    flagged = set(out.sample_ids[out.miscaptioned].tolist())
    assert len(flagged) == 20
    assert flagged <= set(manifest.candidate)
    for i in range(len(out)):
        sid = int(out.sample_ids[i])
        if sid in flagged:
            assert int(out.caption_source[i]) != sid
            assert int(out.caption_source[i]) in flagged  # exchanged among the chosen candidates
        else:
            assert out.captions[i] == table.captions[i]
            assert int(out.caption_source[i]) == sid


def test_no_miscaption_describes_its_image(table):
    ids = list(range(300))
    out = inject_miscaptions(table, ids, 0.5, seed=1)
    colours = list(synthetic.COLOURS)
    for i in ids:
        if not out.miscaptioned[i]:
            continue
        true_colour = colours[table.attributes["colour"][i]]
        true_shape = synthetic.SHAPES[table.attributes["shape"][i]]
        for caption in out.captions[i]:
            words = caption.replace(",", " ").split()
            assert true_colour not in words and true_shape not in words, caption


def test_same_seed_same_exchange(table):
    a = inject_miscaptions(table, list(range(200)), 0.2, seed=5)
    b = inject_miscaptions(table, list(range(200)), 0.2, seed=5)
    assert a.captions == b.captions


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_bad_fraction(table, fraction):
    with pytest.raises(ConfigError, match="fraction"):
        inject_miscaptions(table, list(range(100)), fraction, seed=0)
