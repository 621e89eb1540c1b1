"""model=lite0_minilm's frozen image tower: the packaged ImageNet weights, the feature cache, what a model saves,
and the crops it refuses."""

from __future__ import annotations

import json

import pytest
import torch

from clipmem.data.batches.transforms import BatchTransform
from clipmem.errors import ConfigError
from clipmem.models import image_encoder as ie
from clipmem.models.factory import build_clip
from clipmem.run import evaluate_run_dir, run_experiment

from .conftest import compose_config, load_settings_for
from .data_fixtures import write_pairs
from .test_audit import TINY

NAME = "efficientnet_lite0"


def images(n: int, seed: int = 0) -> torch.Tensor:
    """(n, 3, 32, 32) uint8 random images."""
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_the_packaged_weights_load_frozen_and_give_pooled_features_per_image():
    backbone = ie.load_backbone(NAME)
    assert not any(p.requires_grad for p in backbone.parameters()) and not backbone.training
    x = BatchTransform(32, train=False)(images(3))
    features = ie.backbone_features(NAME, x)
    assert features.shape == (3, 1280) and torch.isfinite(features).all()
    assert not torch.allclose(features[0], features[1])
    alone = ie.backbone_features(NAME, x[2:])  # eval mode: an image's features do not depend on its batch
    assert torch.allclose(alone[0], features[2], atol=1e-5)


def test_uncropped_training_batches_are_the_evaluation_batches_bit_for_bit():
    train, evaluation = BatchTransform(32, scale=(1, 1), ratio=(1, 1), train=True), BatchTransform(32, train=False)
    assert train.whole_image and not BatchTransform(32, train=True).whole_image
    batch = images(4)
    assert torch.equal(train(batch, theta=train.crop_params(4)), evaluation(batch))


def test_training_reads_the_features_cached_before_it_and_a_new_view_is_computed_once(monkeypatch):
    ie._CACHE.clear()
    batch = images(6, seed=1)
    evaluation = BatchTransform(32, train=False)
    assert ie.warm_image_cache(NAME, batch, [evaluation]) == (6, "encoded")
    cached = ie.cached_features(NAME, evaluation(batch))
    calls = []

    def counted(name: str, x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        return torch.zeros(len(x), 1280)

    monkeypatch.setattr(ie, "backbone_features", counted)
    tower = ie.FrozenImageTower(NAME, 16)
    train = BatchTransform(32, scale=(1, 1), ratio=(1, 1), train=True)
    assert tower(train(batch[[5, 0, 3]])).shape == (3, 16) and calls == []  # every image from the cache
    assert torch.equal(ie.cached_features(NAME, evaluation(batch[[5, 0, 3]])), cached[[5, 0, 3]])
    cropped = BatchTransform(32, train=True)(batch[:2], generator=torch.Generator().manual_seed(0))
    tower(cropped)
    tower(cropped)
    assert calls == [2]  # a crop is a new input: encoded once, then cached


def test_features_kept_in_a_cache_dir_are_read_back_instead_of_encoded_and_a_changed_image_is_not(
        monkeypatch, tmp_path, caplog):
    calls = []

    def counted(name: str, x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        return x.flatten(1)[:, :1280].float() + float(len(calls))  # each pass gives other numbers

    monkeypatch.setattr(ie, "backbone_features", counted)
    monkeypatch.setattr(ie, "CHUNK", 2)
    batch, evaluation = images(5, seed=3), BatchTransform(32, train=False)
    ie._CACHE.clear()
    assert ie.warm_image_cache(NAME, batch, [evaluation], tmp_path) == (5, "encoded") and calls == [2, 2, 1]
    written = ie.cached_features(NAME, evaluation(batch))
    (path,) = tmp_path.glob(f"features-{NAME}-*.pt")
    ie._CACHE.clear()
    assert ie.warm_image_cache(NAME, batch, [evaluation], tmp_path) == (5, f"read from {path}")
    assert calls == [2, 2, 1]  # no new pass
    assert torch.equal(ie.cached_features(NAME, evaluation(batch)), written)
    changed = batch.clone()
    changed[4, 0, 0, 0] ^= 1
    assert ie.features_path(NAME, tmp_path, ie.transformed_keys([(evaluation, part) for part in changed.split(2)])) \
        != path
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)  # features may differ in their last bits with the thread count
        assert ie.features_path(NAME, tmp_path, ie.transformed_keys([(evaluation, part) for part in batch.split(2)])) \
            != path
    finally:
        torch.set_num_threads(threads)
    path.write_bytes(b"")  # a cut file: encoded again and rewritten, never a failed run
    ie._CACHE.clear()
    assert ie.warm_image_cache(NAME, batch, [evaluation], tmp_path) == (5, "encoded") and len(calls) == 6
    assert torch.load(path, weights_only=True)["features"].shape == (5, 1280)
    ie._CACHE.clear()
    (tmp_path / "a_file").write_text("")  # a cache folder that cannot be made: the run goes on, encoding
    with caplog.at_level("WARNING"):
        assert ie.warm_image_cache(NAME, batch, [evaluation], tmp_path / "a_file" / "cache") == (5, "encoded")
    assert "could not be kept in" in caplog.text
    ie._CACHE.clear()


def test_encoding_many_batches_of_images_shows_its_progress(monkeypatch, caplog):
    ie._CACHE.clear()
    monkeypatch.setattr(ie, "backbone_features", lambda name, x: torch.zeros(len(x), 1280))
    monkeypatch.setattr(ie, "CHUNK", 2)
    caplog.set_level("INFO")
    assert ie.warm_image_cache(NAME, images(5, seed=2), [BatchTransform(32, train=False)]) == (5, "encoded")
    assert f"image tower: encoding 5 images by {NAME}: 3 batch ..." in caplog.text  # a log line off a terminal
    assert f"image tower: encoding 5 images by {NAME}: done in" in caplog.text
    ie._CACHE.clear()


def test_a_model_with_the_frozen_tower_trains_and_saves_only_its_projection():
    clip = build_clip({"embed_dim": 16, "vision_cfg": {"image_size": 32, "image_encoder": NAME},
                       "text_cfg": {"context_length": 16, "vocab_size": 100, "width": 16, "heads": 2, "layers": 1}})
    visual = [k for k in clip.state_dict() if k.startswith("visual.")]
    assert visual == ["visual.norm.weight", "visual.norm.bias", "visual.proj.weight"]
    features = clip.encode_image(BatchTransform(32, train=False)(images(2, seed=2)))
    assert features.shape == (2, 16) and features.requires_grad  # the projection trains


def test_the_audit_defaults_to_both_towers_frozen_read_by_familiarity():
    cfg = compose_config(["experiment=audit", "data.source.path=pairs.csv"])
    assert cfg.model.arch.vision_cfg.image_encoder == NAME and cfg.model.arch.text_cfg.sentence_encoder == "minilm"
    assert cfg.audit.statistic == "rank_by_familiarity" and cfg.data.source.resolution == 128


def test_the_preset_trains_uncropped_and_a_crop_is_refused():
    assert load_settings_for(["model=lite0_minilm"]).data.augment == {"scale": [1.0, 1.0], "ratio": [1.0, 1.0]}
    with pytest.raises(ConfigError, match=r"uncropped .* data.augment.scale=\[1,1\]"):
        load_settings_for(["model=lite0_minilm", "data.augment.scale=[0.8,1.0]"])


def test_an_unknown_or_damaged_encoder_is_refused(monkeypatch):
    with pytest.raises(ConfigError, match="not a known encoder"):
        ie.encoder_file("resnet_9000")
    package, path, _, arch, width = ie.IMAGE_ENCODERS[NAME]
    monkeypatch.setitem(ie.IMAGE_ENCODERS, NAME, (package, path, "0" * 64, arch, width))
    with pytest.raises(ConfigError, match="is not the pinned"):
        ie.FrozenImageTower(NAME, 16)


def test_an_audit_at_the_defaults_scores_every_row_with_both_towers_frozen(tmp_path, caplog):
    paths = write_pairs(tmp_path / "pairs", 60)
    run_dir = tmp_path / "run"
    caplog.set_level("INFO")
    defaults = [o for o in TINY if not o.startswith(("model=", "audit.statistic="))]  # the audit's own model
    overrides = [*defaults, "model.image_size=32", f"data.source.path={paths['csv']}",
                 f"data.source.cache_dir={tmp_path / 'cache'}"]
    metrics = run_experiment(compose_config([*overrides, f"run_dir={run_dir}"]))
    assert metrics["audit_rows"] == 60 and 0 <= metrics["audit_auc"] <= 1
    assert metrics["audit_statistic"] == "rank_by_familiarity"
    assert "image tower: the features of 60 images by efficientnet_lite0 encoded in" in caplog.text
    assert len(list((tmp_path / "cache").glob(f"features-{NAME}-*.pt"))) == 1
    ie._CACHE.clear()  # a new process: the second run reads the features the first one wrote, and scores the same
    again = run_experiment(compose_config([*overrides, f"run_dir={tmp_path / 'again'}"]))
    assert f"image tower: the features of 60 images by {NAME} read from {tmp_path / 'cache'}" in caplog.text
    assert (tmp_path / "again" / "audit.csv").read_bytes() == (run_dir / "audit.csv").read_bytes()
    assert again["audit_auc"] == metrics["audit_auc"]
    ie._CACHE.clear()  # a re-score reads the same file, and gives the run's own scores
    evaluate_run_dir(run_dir)
    assert caplog.text.count(f"read from {tmp_path / 'cache'}") == 2
    (scores,) = run_dir.glob("evaluations/*/scores.csv")
    assert scores.read_bytes() == (run_dir / "scores.csv").read_bytes()
    saved = json.loads(next(run_dir.glob("models/*/clipmem_meta.json")).read_text())
    assert saved["training_config"]["model"]["arch"]["vision_cfg"]["image_encoder"] == NAME
    assert max(p.stat().st_size for p in run_dir.glob("models/*/*")) < 2_000_000  # the projection, not the backbone
