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


@pytest.mark.parametrize("launcher", sorted(p.stem for p in (CONF / "hydra" / "launcher").glob("*.yaml")))
def test_hydra_launcher_options_compose_with_their_plugins(launcher):
    from hydra import compose, initialize_config_dir
    from hydra.plugins.launcher import Launcher
    from hydra.utils import get_class

    import clipmem.config  # noqa: F401  (resolvers of the hydra section)

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        overrides = [f"hydra/launcher={launcher}", "run_dir=/tmp/unused"]
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    settings = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert issubclass(get_class(settings["_target_"]), Launcher)
