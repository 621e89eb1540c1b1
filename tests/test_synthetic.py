import numpy as np
import pytest
import torch

from clipmem.data import SyntheticSource
from clipmem.data.sources import synthetic


def test_a_sample_does_not_depend_on_dataset_size():
    small = SyntheticSource(num_samples=20, seed=3).load()
    large = SyntheticSource(num_samples=200, seed=3).load()
    assert torch.equal(small.images, large.images[:20])
    assert small.captions == large.captions[:20]


def test_seed_changes_the_data():
    a = SyntheticSource(num_samples=20, seed=0).load()
    b = SyntheticSource(num_samples=20, seed=1).load()
    assert not torch.equal(a.images, b.images)


@pytest.mark.parametrize("resolution", [32, 48, 64])
def test_render_shape_and_range(resolution):
    images = synthetic.render(synthetic.sample_scenes(np.arange(8), 0), resolution)
    assert images.shape == (8, 3, resolution, resolution)
    assert images.dtype == torch.uint8
    assert images.float().std() > 10  # not blank


def test_every_caption_names_colour_and_shape_of_its_image():
    table = SyntheticSource(num_samples=100, captions_per_sample=5).load()
    colours, shapes = list(synthetic.COLOURS), synthetic.SHAPES
    for i, caps in enumerate(table.captions):
        assert len(caps) == 5 and len(set(caps)) == 5
        for caption in caps:
            assert colours[table.attributes["colour"][i]] in caption
            assert shapes[table.attributes["shape"][i]] in caption


def test_labels_match_classnames():
    table = SyntheticSource(num_samples=300, label_kind="colour_shape").load()
    names = table.classnames
    for i in range(20):
        colour, shape = names[int(table.labels[i])].split(" ")
        assert colour == list(synthetic.COLOURS)[table.attributes["colour"][i]]
        assert shape == synthetic.SHAPES[table.attributes["shape"][i]]


def test_views_keep_attributes_and_change_pixels():
    ids = np.arange(16)
    base, other = synthetic.sample_scenes(ids, 0), synthetic.sample_scenes(ids, 0, view=1)
    for field in ("shape", "colour", "size", "position", "background"):
        assert np.array_equal(getattr(base, field), getattr(other, field))
    assert not torch.equal(synthetic.render(base), synthetic.render(other))


def test_shapes_are_distinguishable():
    """Each shape covers a different pixel footprint at the same place and size."""
    n = len(synthetic.SHAPES)
    scenes = synthetic.sample_scenes(np.zeros(n, dtype=np.int64), 0)
    scenes = synthetic.Scenes(**{**vars(scenes), "shape": np.arange(n), "radius": np.full(n, 0.35),
                                 "cx": np.full(n, 0.5), "cy": np.full(n, 0.5), "angle": np.zeros(n)})
    images = synthetic.render(scenes, 32).float()
    distances = torch.cdist(images.flatten(1), images.flatten(1))
    assert (distances + torch.eye(n) * 1e9).min() > 100


def test_bad_label_kind_is_named():
    with pytest.raises(Exception, match="label_kind"):
        SyntheticSource(label_kind="texture")
