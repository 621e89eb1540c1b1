"""Every config group option composes and instantiates; presets are delta-only."""

import pytest
from omegaconf import OmegaConf

from clipmem.config import instantiate_checked
from clipmem.data import CLIPMemDataModule

from .conftest import CONF, compose_config

GROUPS = ("model", "data", "mitigation", "hardware", "logger", "experiment", "debug")


def options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group", GROUPS)
def test_group_exists_and_has_options(group):
    assert options(group), f"conf/{group}/ has no options"


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_resolves(group, option):
    cfg = compose_config([f"{group}={option}", "run_dir=/tmp/unused"])
    container = OmegaConf.to_container(cfg, resolve=True)
    assert container["model"]["_target_"].startswith("clipmem.")
    assert container["data"]["image_size"] == container["model"]["image_size"]


@pytest.mark.parametrize("option", options("data"))
def test_data_options_instantiate(option):
    dm = instantiate_checked(compose_config([f"data={option}"]).data)
    assert isinstance(dm, CLIPMemDataModule)


def test_experiment_presets_are_delta_only():
    for path in (CONF / "experiment").glob("*.yaml"):
        assert path.read_text().lstrip().startswith("# @package _global_"), path.name
    for path in (CONF / "debug").glob("*.yaml"):
        assert "# @package _global_" in path.read_text(), path.name
