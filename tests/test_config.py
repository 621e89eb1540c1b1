"""Every config group option composes and instantiates; presets are delta-only; bad values stop early."""

import dataclasses
import inspect

import hydra.utils
import pytest
import yaml
from omegaconf import OmegaConf

from clipmem.data import DataSettings

from .conftest import CONF, compose_config, load_settings_for

GROUPS = ("model", "data", "mitigation", "design", "hardware", "logger", "callbacks", "experiment", "debug",
          "hparams_search", "finetune")


def options(group):
    """A group's selectable options (files starting with `_` are shared bases, not options)."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


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
    from clipmem.config import instantiate_checked

    settings = instantiate_checked(compose_config([f"data={option}"]).data, "data")
    assert isinstance(settings, DataSettings)
    assert settings.splits == {"shared": 4000, "candidate": 500, "independent": 500, "extra": 500}


def test_default_config_validates_into_objects():
    settings = load_settings_for([])
    assert settings.design.name == "pair" and settings.mitigation.name == "none"
    assert settings.scoring.num_views == 8 and settings.report.gallery_size == 12
    assert settings.recipe.trainer_kwargs["max_epochs"] == 10 and settings.recipe.checkpoints


def test_experiment_presets_are_delta_only():
    for path in (CONF / "experiment").glob("*.yaml"):
        assert path.read_text().lstrip().startswith("# @package _global_"), path.name
    for path in (CONF / "debug").glob("*.yaml"):
        assert "# @package _global_" in path.read_text(), path.name


def test_top_level_types_are_checked_when_composing():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException):
        compose_config(["scoring.num_views=many"])
    with pytest.raises(ConfigCompositionException):
        compose_config(["seed=1.5"])


def test_a_key_added_with_plus_that_no_schema_has_is_refused_naming_the_closest(tmp_path):
    from clipmem.errors import ConfigError
    from clipmem.run import evaluate_config, run_experiment

    with pytest.raises(ConfigError, match=r"seeed is not a setting \(did you mean seed\?\); the settings at the top"):
        run_experiment(compose_config(["+seeed=3", f"run_dir={tmp_path / 'run'}"]))
    assert not (tmp_path / "run").exists()  # refused before a run directory is claimed
    with pytest.raises(ConfigError, match=r"audit.min_probabilty is not a setting \(did you mean audit.min_prob"):
        run_experiment(compose_config(["experiment=audit", "+audit.min_probabilty=0.3"]))
    with pytest.raises(ConfigError, match=r"audit is not a setting; the settings at the top level are: \['analysis'"):
        evaluate_config(compose_config([f"run_dir={tmp_path}", "+audit.min_probability=0.3"], "evaluate"))


def test_the_shared_base_of_the_model_options_is_refused_as_a_model(tmp_path):
    from clipmem.errors import ConfigError
    from clipmem.run import run_experiment

    with pytest.raises(ConfigError, match="model=_clip holds the keys the model options share and is not a model"):
        run_experiment(compose_config(["model=_clip", f"run_dir={tmp_path / 'run'}"]))


def test_a_preset_s_setting_that_the_chosen_class_lacks_is_named():
    from clipmem.errors import ConfigError

    with pytest.raises(ConfigError, match=r"data: CsvSource has no setting 'num_samples' \(its settings: \['path'.*"
                                          r"a misspelt override, or a preset"):
        load_settings_for(["data=csv", "data.source.path=pairs.csv", "debug=fast"])  # debug=fast sizes synthetic data
    with pytest.raises(ConfigError, match=r"CsvSource has no setting 'num_thread' \(did you mean num_threads\?\)"):
        load_settings_for(["data=csv", "data.source.path=pairs.csv", "+data.source.num_thread=2"])


OPTIONS_OF = {"clipmem.reporting.tracking.wandb_logger": "clipmem.reporting.tracking.WandbOptions"}  # **options
PRESET_GROUPS = ("experiment", "debug", "hparams_search", "hydra")  # files that set values on purpose


def _python_defaults(target: str) -> dict:
    """Keyword -> default of a clipmem ``_target_`` (a dataclass's init fields or a function's parameters)."""
    obj = hydra.utils.get_object(OPTIONS_OF.get(target, target))
    if dataclasses.is_dataclass(obj):
        return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(obj)
                if f.init and (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)}
    return {name: p.default for name, p in inspect.signature(obj).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _plain(value):
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _targets(node, where: str):
    if isinstance(node, dict):
        if str(node.get("_target_", "")).startswith("clipmem."):
            yield where, node
        for key, value in node.items():
            yield from _targets(value, f"{where}.{key}")


def test_group_options_restate_no_default_differently():
    """The rule of docs/configuration.md, "Where defaults live": the Python class holds each default; a group
    option lists a key at that value (so it can be overridden by name), wires it by interpolation, or is a
    preset. A listed value that differs from the class's default would make the class's default a dead copy."""
    differ = []
    for path in sorted(CONF.rglob("*.yaml")):
        if path.relative_to(CONF).parts[0] in PRESET_GROUPS:
            continue
        for where, node in _targets(yaml.safe_load(path.read_text()) or {}, path.relative_to(CONF).as_posix()):
            defaults = _python_defaults(node["_target_"])
            for key, value in node.items():
                if key in defaults and not (isinstance(value, str) and "${" in value) and \
                        _plain(value) != _plain(defaults[key]):
                    differ.append(f"{where}.{key}: yaml {value!r}, python {defaults[key]!r}")
    assert not differ, differ
