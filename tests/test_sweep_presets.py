"""The sweep presets compose, their sweeper params parse, and every job they expand to composes (no training)."""

from __future__ import annotations

import itertools

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from clipmem.config.settings import load_settings
from clipmem.errors import ConfigError

from .conftest import CONF

PRESETS = {"noise_sweep": 6, "caption_sweep": 5, "removal_sweep": 9, "modality": 6}


def _jobs(preset: str, extra: list[str]) -> tuple[list[list[str]], list]:
    """The per-job overrides Hydra's basic sweeper makes of the preset's ``hydra.sweeper.params``."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={preset}", *extra], return_hydra_config=True)
        params = cfg.hydra.sweeper.params
        assert params, f"experiment={preset} sets no hydra.sweeper.params"
        parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
        grids = [[f"{o.key_or_group}={v}" for v in o.sweep_string_iterator()] for o in parsed]
        jobs = [list(combo) for combo in itertools.product(*grids)]
        configs = [compose("train", overrides=[f"experiment={preset}", "run_dir=/tmp/unused", *extra, *job])
                   for job in jobs]
    return jobs, configs


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_expands_to_jobs_that_compose(preset):
    extra = ["mitigation.scores=base/scores.csv"] if preset == "removal_sweep" else []
    jobs, configs = _jobs(preset, extra)
    assert len(jobs) == PRESETS[preset]
    for job, cfg in zip(jobs, configs, strict=True):
        assert cfg.name == preset and cfg.data.splits.candidate == 200, job
        settings = load_settings(cfg)  # every group of every job validates
        for override in job:
            key, value = override.split("=")
            if key.startswith("mitigation."):
                assert str(getattr(settings.mitigation, key.split(".")[1])) == value


def test_noise_and_caption_grids():
    jobs, configs = _jobs("noise_sweep", [])
    assert [c.mitigation.sigma for c in configs] == [0, 0.01, 0.02, 0.05, 0.15, 0.3]
    assert {load_settings(c).mitigation.name for c in configs} == {"text_noise"}
    _, configs = _jobs("caption_sweep", [])
    assert [load_settings(c).data.train_captions for c in configs] == [1, 2, 3, 4, 5]


def test_modality_settings():
    jobs, configs = _jobs("modality", [])
    by_name = {job[0].split("=")[1]: cfg for job, cfg in zip(jobs, configs, strict=True)}
    assert (by_name["image_frozen"].model.lock_image, by_name["image_frozen"].model.lock_text) == (True, False)
    assert (by_name["text_frozen"].model.lock_image, by_name["text_frozen"].model.lock_text) == (False, True)
    baseline = load_settings(by_name["baseline"])
    assert not by_name["baseline"].model.lock_image and baseline.mitigation.name == "none"
    data = {name: load_settings(cfg).data for name, cfg in by_name.items()}
    assert (data["k_images_k_captions"].source.views, data["k_images_k_captions"].train_captions) == (5, 5)
    assert (data["k_images_1_caption"].source.views, data["k_images_1_caption"].train_captions) == (5, 1)
    assert (data["1_image_k_captions"].source.views, data["1_image_k_captions"].train_captions) == (1, 5)


def test_removal_sweep_names_the_missing_scores():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=removal_sweep", "run_dir=/tmp/unused"])
    with pytest.raises(ConfigError, match="needs mitigation.scores"):
        load_settings(cfg)
    jobs, _ = _jobs("removal_sweep", ["mitigation.scores=x.csv"])
    assert {j[1] for j in jobs} == {"mitigation.ranking=clipmem", "mitigation.ranking=random",
                                    "mitigation.ranking=lowest_similarity"}
