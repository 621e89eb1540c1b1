"""The animal_mnist zero-shot source: the package's real data, its class names, and the missing-package error."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re

import pytest
import torch

from clipmem.data.zeroshot import animal_mnist
from clipmem.data.zeroshot.animal_mnist import CLASSNAMES, AnimalMNISTZeroShot
from clipmem.errors import ConfigError

installed = importlib.util.find_spec("animal_mnist") is not None
needs_package = pytest.mark.skipif(not installed, reason="pip install --no-deps animal-mnist (make setup does it)")


@needs_package
def test_loads_ten_classes_as_uint8_rgb():
    zs = AnimalMNISTZeroShot(resolution=32, num_samples=200).load()
    assert zs.images.dtype == torch.uint8 and tuple(zs.images.shape) == (200, 3, 32, 32)
    assert zs.classnames == list(CLASSNAMES) and len(zs.classnames) == 10
    assert zs.labels.dtype == torch.int64 and int(zs.labels.min()) == 0 and int(zs.labels.max()) == 9
    assert torch.equal(torch.bincount(zs.labels, minlength=10), torch.full((10,), 20))  # balanced prefix
    assert torch.equal(zs.images[:, 0], zs.images[:, 1]) and torch.equal(zs.images[:, 1], zs.images[:, 2])
    assert all(t.count("{}") == 1 for t in zs.templates)


@needs_package
def test_invert_gives_white_background_and_full_set_is_10k():
    plain = AnimalMNISTZeroShot(resolution=28).load()
    inverted = AnimalMNISTZeroShot(resolution=28, invert=True, num_samples=10).load()
    assert len(plain.labels) == 10_000
    assert int(plain.images[:10, :, 0, 0].max()) < 30 and int(inverted.images[:, :, 0, 0].min()) > 225
    assert torch.equal(inverted.images, 255 - plain.images[:10])


@needs_package
def test_class_names_are_the_packages():
    meta = importlib.metadata.metadata("animal-mnist")
    text = meta["Description"] or meta.get_payload()
    listed = re.search(r"including ([A-Za-z, ]+)\)", text).group(1)
    assert [name.strip().lower() for name in listed.split(",")] == list(CLASSNAMES)


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(animal_mnist.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=re.escape("pip install --no-deps animal-mnist")):
        AnimalMNISTZeroShot().load()


def test_missing_files_and_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="animal-mnist data files missing"):
        AnimalMNISTZeroShot(data_dir=str(tmp_path)).load()
    with pytest.raises(ConfigError, match="num_samples"):
        AnimalMNISTZeroShot(num_samples=3)
