"""Each mitigation does what it says: noise, tower locking, several captions/images, caption
augmentation, retraining without the top-N, and the linear-probe utility metric."""

from __future__ import annotations

import csv
import json

import lightning as L
import pytest
import torch

from clipmem.config import instantiate_checked
from clipmem.data import ImageTextTable, SplitManifest, TrainingDataModule
from clipmem.data.build import check_caption_count
from clipmem.errors import ConfigError
from clipmem.evaluation.linear_probe import probe_accuracy
from clipmem.mitigations import Mitigation
from clipmem.mitigations.remove_topk import choose_removal
from clipmem.mitigations.text_augment import CaptionAugmenter
from clipmem.models import CLIPModule
from clipmem.reporting.scores_csv import read_scores
from clipmem.run import evaluate_run_dir, run_experiment
from clipmem.scoring import ModelScorer, ScoringConfig
from clipmem.scoring.compat import ids_sha256

from .conftest import CONF, build_data_for, compose_config, evaluated, load_settings_for

# Tiny data for data-module and training-step tests: 200 pairs, 40 candidates (4 mis-captioned).
TINY = ["debug=fast", "data.source.num_samples=200", "data.batch_size=16",
        "data.splits={shared: 100, candidate: 40, independent: 40, extra: 20}",
        "data.zeroshot.synthetic.num_samples=40"]


def tiny(*overrides: str) -> list[str]:
    return [*TINY, *overrides]


def module_for(overrides: list[str]) -> CLIPModule:
    """The CLIP module of a config, with its mitigation's noise bound (as every model of a run gets it)."""
    return load_settings_for(overrides).recipe.build_module(log_prefix="")


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """One ``debug=fast`` run without mitigation (about 20 s): the earlier run of remove_topk."""
    run_dir = tmp_path_factory.mktemp("fast") / "run"
    run_experiment(compose_config(["debug=fast", f"run_dir={run_dir}"]))
    return run_dir


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "mitigation").glob("*.yaml")))
def test_every_option_is_a_mitigation_object(option):
    extra = ["mitigation.scores=unused.csv"] if option == "remove_topk" else []
    mitigation = instantiate_checked(compose_config([f"mitigation={option}", *extra]).mitigation, "mitigation")
    assert isinstance(mitigation, Mitigation) and mitigation.name == option


def test_unknown_or_incomplete_mitigation_is_refused():
    with pytest.raises(ConfigError, match=r"mitigation: cannot find _target_ 'clipmem.mitigations.Dropout'"):
        load_settings_for(["mitigation._target_=clipmem.mitigations.Dropout"])
    with pytest.raises(ConfigError, match=r"mitigation\.scores"):
        load_settings_for(tiny("mitigation=remove_topk"))  # scores is required


# ------------------------------------------------------------------------------------------ noise
def _batch(module: CLIPModule, n: int = 8) -> dict:
    g = torch.Generator().manual_seed(0)
    size = module.hparams.image_size
    return {"image": torch.randn(n, 3, size, size, generator=g),
            "text": torch.randint(1, 1000, (n, module.hparams.context_length), generator=g)}


@pytest.mark.parametrize(("option", "noisy", "clean"), [("text_noise", 1, 0), ("image_noise", 0, 1)])
def test_embedding_noise_only_in_training(option, noisy, clean):
    module = module_for([f"mitigation={option}", "mitigation.sigma=0.2"])
    batch = _batch(module)
    with torch.no_grad():  # (eval mode may take PyTorch's attention fast path: compare within a mode)
        module.train()
        exact = (module.encode_image(batch["image"]), module.encode_text(batch["text"]))
        first, again = module.loss_features(batch), module.loss_features(batch)
        module.eval()
        exact_eval = (module.encode_image(batch["image"]), module.encode_text(batch["text"]))
        evaluated = module.loss_features(batch)
    delta = first[noisy] - exact[noisy]
    assert 0.15 < float(delta.std()) < 0.25  # N(0, 0.2²) per coordinate, not re-normalised
    assert torch.equal(first[clean], exact[clean])  # the other side is untouched
    assert torch.equal(first[noisy], again[noisy])  # one draw per optimizer step: reproducible
    assert all(torch.equal(a, b) for a, b in zip(evaluated, exact_eval, strict=True))  # no noise outside training


# ------------------------------------------------------------------------------------------ frozen towers
def _fit(overrides: list[str], steps: int = 2) -> CLIPModule:
    L.seed_everything(0)
    module = module_for(overrides)
    data = build_data_for(overrides)
    dm = TrainingDataModule(data, data.manifest.train_ids("f"), seed=0)
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    before = {n: p.detach().clone() for n, p in module.clip.state_dict().items()}
    trainer.fit(module, datamodule=dm)
    module.before = before
    return module


def _tower(name: str) -> str:
    return "image" if name.startswith("visual.") else ("scale" if name == "logit_scale" else "text")


@pytest.mark.parametrize(("lock", "frozen", "trained"), [("lock_image", "image", "text"),
                                                          ("lock_text", "text", "image")])
def test_locked_tower_keeps_its_weights_bit_identical(lock, frozen, trained):
    module = _fit(tiny(f"model.{lock}=true"))
    after = module.clip.state_dict()
    changed = {_tower(n) for n, p in after.items() if not torch.equal(p, module.before[n])}
    assert frozen not in changed and trained in changed
    module.train()
    assert module.clip.visual.training == (lock != "lock_image")  # a locked image tower keeps fixed BN statistics


def test_locking_both_towers_is_refused():
    with pytest.raises(ConfigError, match="lock_image and model.lock_text"):
        load_settings_for(["model.lock_image=true", "model.lock_text=true"])


# ------------------------------------------------------------------------------------------ several captions / images
def _served(data, draws: int = 12) -> tuple[dict[int, set], dict[int, set]]:
    """Distinct captions (token tuples) and images (bytes) served per sample id over ``draws`` epochs."""
    dm = TrainingDataModule(data, data.manifest.train_ids("f"), seed=0)
    dm.setup("fit")
    dataset = dm.train_dataloader().dataset
    texts: dict[int, set] = {}
    images: dict[int, set] = {}
    for epoch in range(draws):  # draws are keyed by (seed, epoch, sample id): index as EpochSampler does
        for i in range(10):
            item = dataset[(i, epoch)]
            sid = int(item["sample_id"])
            texts.setdefault(sid, set()).add(tuple(item["text"].tolist()))
            images.setdefault(sid, set()).add(item["image"].numpy().tobytes())
    return texts, images


def test_multi_caption_serves_k_captions_and_scoring_draws_among_them():
    data = build_data_for(tiny("mitigation=multi_caption", "mitigation.k=3"))
    assert data.train_captions == 3
    texts, images = _served(data)
    assert all(1 < len(t) <= 3 for t in texts.values()) and all(len(v) == 1 for v in images.values())
    plan = ModelScorer(data, data.manifest.candidate, ScoringConfig(num_views=8)).plan
    assert int(plan.caption.max()) == 2 and plan.view is None


def test_multi_caption_needs_enough_captions():
    with pytest.raises(ConfigError, match="at most 5 caption"):
        build_data_for(tiny("mitigation=multi_caption", "mitigation.k=6"))
    table = ImageTextTable(sample_ids=torch.arange(3), images=torch.zeros(3, 3, 4, 4, dtype=torch.uint8),
                           captions=[["a", "b", "c"], ["d"], ["e", "f"]])
    with pytest.raises(ConfigError, match="at most 3 caption"):
        check_caption_count(table, 4)
    with pytest.raises(ConfigError, match="set only one"):
        load_settings_for(tiny("mitigation=multi_caption", "mitigation.k=3", "data.train_captions=2"))


def test_multi_image_serves_different_views_of_the_same_scene():
    # Table 1's "k images, k captions" setting is expressed with overrides only.
    data = build_data_for(tiny("mitigation=multi_image", "mitigation.k=3", "data.train_captions=5"))
    views = data.table.views
    assert tuple(views.shape[:2]) == (200, 3) and torch.equal(views[:, 0], data.table.images)
    assert not torch.equal(views[:, 1], views[:, 0])
    texts, images = _served(data)
    assert all(len(v) > 1 for v in images.values()) and all(len(t) > 1 for t in texts.values())
    p = int(data.table.positions(list(data.manifest.train_ids("f")))[0])
    options = {views[p, v].numpy().tobytes() for v in range(3)}
    assert images[int(data.table.sample_ids[p])] <= options  # only renders of this pair's own scene
    plan = ModelScorer(data, data.manifest.candidate, ScoringConfig(num_views=8)).plan
    assert plan.view is not None and len(torch.unique(plan.view)) == 3


def test_multi_image_needs_a_source_with_views():
    from clipmem.data import CsvSource
    from clipmem.mitigations import MultiImage

    no_views = load_settings_for(tiny()).data.replace(source=CsvSource(path="pairs.csv"))
    with pytest.raises(ConfigError, match="views"):
        MultiImage(k=3).configure_data(no_views)


# ------------------------------------------------------------------------------------------ caption augmentation
def test_text_augment_is_deterministic_and_different():
    augment = CaptionAugmenter(copies=3, seed=0)
    caption = "a small red circle, top left, gray backdrop"
    first, again = augment([caption], 7), augment([caption], 7)
    assert first == again and len(first) == 3
    assert all(c != caption for c in first) and len(set(first)) == 3
    assert augment([caption], 8) != first  # each pair draws its own


def test_text_augment_adds_training_captions():
    data = build_data_for(tiny("mitigation=text_augment", "mitigation.copies=2", "data.train_captions=2"))
    assert data.train_captions == 6  # 2 originals + 2 copies of each
    originals = build_data_for(tiny("data.train_captions=2"))
    for new, old in zip(data.table.captions[:20], originals.table.captions[:20], strict=True):
        assert new[:2] == old[:2] and len(set(new[:6])) > 2 and new[6:] == old[2:]
    texts, _ = _served(data)
    assert max(len(t) for t in texts.values()) > 2


# ------------------------------------------------------------------------------------------ remove_topk
def _fake_scores(path, ids, values):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", "caption", "clipmem", "clipmem_raw", "align_f", "align_g", "contrast_f",
                         "contrast_g", "miscaptioned", "caption_source_id"])
        for i, v in zip(ids, values, strict=True):
            writer.writerow([i, "c", v, v, 1 - v, 0.5, 0, 0, 0, i])


def _manifest() -> SplitManifest:
    return SplitManifest(seed=0, shared=(0, 1), candidate=(10, 11, 12, 13), independent=(20, 21, 22, 23), extra=(30,))


def test_removal_rankings(tmp_path):
    path = tmp_path / "scores.csv"
    _fake_scores(path, [10, 11, 12, 13], [0.2, 0.9, 0.5, 0.1])
    m = _manifest()
    assert choose_removal(path, m, 2, "clipmem").candidate == (11, 12)
    assert choose_removal(path, m, 2, "lowest_similarity").candidate == (11, 12)  # align_f = 1 - clipmem here
    assert choose_removal(path, m, 2, "lowest_similarity", similarity_column="clipmem").candidate == (13, 10)
    random = choose_removal(path, m, 2, "random", seed=3)
    assert random == choose_removal(path, m, 2, "random", seed=3) and len(set(random.candidate)) == 2
    assert set(random.independent) <= set(m.independent) and len(random.independent) == 2
    _fake_scores(path, [10, 20], [0.1, 0.2])
    with pytest.raises(ConfigError, match="not candidates"):
        choose_removal(path, m, 1)
    with pytest.raises(ConfigError, match="no scores.csv"):
        choose_removal(tmp_path / "missing.csv", m, 1)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="not a clipmem scores.csv"):
        choose_removal(tmp_path / "bad.csv", m, 1)


def test_manifest_removal_is_hashed_and_excluded_from_training():
    m = _manifest()
    removed = SplitManifest(**{**m.__dict__, "removed": (11, 22)})
    assert removed.sha256 != m.sha256 and SplitManifest.from_json(removed.to_json()) == removed
    assert removed.train_ids("f") == (0, 1, 10, 12, 13) and removed.train_ids("g") == (0, 1, 20, 21, 23)
    assert "removed" not in m.content()  # manifests without removal hash as before


def test_remove_topk_retrains_without_the_named_ids(fast_run, tmp_path):
    n = 10
    run_dir = tmp_path / "removed"
    cfg = compose_config(["debug=fast", f"run_dir={run_dir}", "callbacks=none", "mitigation=remove_topk",
                          f"mitigation.scores={fast_run / 'scores.csv'}", f"mitigation.n={n}"])
    run_experiment(cfg)
    earlier = sorted((r for r in read_scores(fast_run / "scores.csv") if r["set"] == "candidate"),
                     key=lambda r: -r["clipmem"])
    top = [r["sample_id"] for r in earlier[:n]]
    with (run_dir / "removed.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["sample_id"]) for r in rows if r["split"] == "candidate"] == top
    dropped_g = {int(r["sample_id"]) for r in rows if r["split"] == "independent"}
    base = SplitManifest.read(fast_run / "splits.json")
    manifest = SplitManifest.read(run_dir / "splits.json")
    assert manifest.candidate == base.candidate and set(manifest.removed) == set(top) | dropped_g
    assert len(dropped_g) == n and dropped_g <= set(base.independent)
    expected_f = set(base.shared) | (set(base.candidate) - set(top))
    meta_f = json.loads((run_dir / "models/f/clipmem_meta.json").read_text())
    assert meta_f["train_ids_sha256"] == ids_sha256(sorted(expected_f))  # f trained on exactly S_S ∪ S_C − top
    meta_g = json.loads((run_dir / "models/g/clipmem_meta.json").read_text())
    assert meta_g["train_ids_sha256"] == ids_sha256(sorted(set(base.shared) | (set(base.independent) - dropped_g)))
    scored = [r["sample_id"] for r in read_scores(run_dir / "scores.csv")]
    assert scored == sorted((set(base.candidate) - set(top)) | (set(base.independent) - dropped_g))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["num_removed_candidate"] == n
    assert metrics["num_removed_miscaptioned_candidate"] == len(set(top) & set(base.miscaptioned))
    evaluate_run_dir(run_dir)  # the saved manifest carries the removal
    assert evaluated(run_dir).scores.read_text() == (run_dir / "scores.csv").read_text()


# ------------------------------------------------------------------------------------------ linear probe
def test_linear_probe_learns_separable_features_and_not_noise():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 8
    centres = torch.randn(8, 16, generator=g)
    features = torch.nn.functional.normalize(centres[labels] + 0.3 * torch.randn(400, 16, generator=g), dim=1)
    accuracy = probe_accuracy(features, labels, 8)
    assert accuracy > 0.95 and accuracy == probe_accuracy(features, labels, 8)  # deterministic
    noise = torch.randn(400, 16, generator=g)
    assert probe_accuracy(noise, labels, 8) < 0.3  # chance is 0.125


def test_linear_probe_reported_for_f_and_g(fast_run):
    metrics = json.loads((fast_run / "metrics.json").read_text())
    for role in ("f", "g"):
        assert metrics[f"linear_probe_top1_{role}"] == metrics[f"linear_probe_synthetic_top1_{role}"]
        assert 0.0 <= metrics[f"linear_probe_top1_{role}"] <= 1.0



# ------------------------------------------------------------------------------------------ end to end (slow)

@pytest.mark.slow
@pytest.mark.parametrize("overrides", [
    ["mitigation=multi_caption", "mitigation.k=3"],
    ["mitigation=multi_image", "mitigation.k=3", "data.train_captions=3"],
    ["mitigation=text_noise", "mitigation.sigma=0.1"],
    ["mitigation=image_noise", "mitigation.sigma=0.1"],
    ["mitigation=text_augment", "mitigation.copies=2"],
    ["mitigation=remove_topk", "mitigation.n=10", "mitigation.ranking=lowest_similarity"],
    ["model.lock_image=true"],
    ["model.lock_text=true"],
], ids=lambda o: o[0])
def test_every_mitigation_runs_end_to_end(overrides, fast_run, tmp_path):
    """Each option through the whole pipeline and evaluate.py (about 30 s each on 2 cores)."""
    extra = [f"mitigation.scores={fast_run}"] if "mitigation=remove_topk" in overrides else []
    metrics = run_experiment(compose_config(["debug=fast", f"run_dir={tmp_path}", *overrides, *extra]))
    assert 0.0 <= metrics["clipmem_mean"] <= 1.0 and "linear_probe_top1_f" in metrics
    evaluate_run_dir(tmp_path)
    assert evaluated(tmp_path).scores.read_text() == (tmp_path / "scores.csv").read_text()


def test_pairs_with_fewer_captions_than_k_are_counted_in_the_log(caplog):
    table = ImageTextTable(sample_ids=torch.arange(3), images=torch.zeros(3, 3, 4, 4, dtype=torch.uint8),
                           captions=[["a", "b", "c"], ["d"], ["e", "f"]])
    with caplog.at_level("WARNING", logger="clipmem.data.build"):
        check_caption_count(table, 3)
    assert "2 of 3 pairs have fewer captions" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="clipmem.data.build"):
        check_caption_count(table, 1)
    assert not caplog.text
