"""Scale-out logic that needs no second process: sampler, keyed draws, devices, launch checks, configs."""

import dataclasses
from types import SimpleNamespace

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import get_class
from omegaconf import OmegaConf

from clipmem import hardware
from clipmem.config import run_dir_override
from clipmem.data import TrainingDataModule
from clipmem.data.batches.seeding import EpochSampler, crop_rows, keyed_choice
from clipmem.data.datamodule import PairDataset, draw_caption
from clipmem.distributed import check_launch, gpu_for_job
from clipmem.errors import ConfigError

from .conftest import CONF, build_data_for, load_settings_for


def _batches(sampler: EpochSampler, batch: int) -> list[list[int]]:
    order = [i for i, _ in sampler]
    return [order[j : j + batch] for j in range(0, len(order) - batch + 1, batch)]


def test_epoch_sampler_is_a_function_of_seed_and_epoch():
    a, b = EpochSampler(100, seed=3), EpochSampler(100, seed=3)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b)  # same epoch: same order (another process, or after resuming)
    assert {e for _, e in a} == {1}
    b.set_epoch(2)
    assert [i for i, _ in a] != [i for i, _ in b]  # a new epoch reshuffles
    assert sorted(i for i, _ in a) == list(range(100))
    assert [i for i, _ in EpochSampler(100, seed=4)] != [i for i, _ in EpochSampler(100, seed=3)]


@pytest.mark.parametrize("world", [2, 4])
def test_rank_shards_form_the_single_process_global_batches(world):
    size, global_batch = 103, 16
    single = EpochSampler(size, seed=0)
    single.set_epoch(5)
    shards = []
    for rank in range(world):
        sampler = EpochSampler(size, seed=0, num_replicas=world, rank=rank)
        sampler.set_epoch(5)
        shards.append(_batches(sampler, global_batch // world))
    expected = _batches(single, global_batch)
    steps = min(len(s) for s in shards)
    assert steps == len(expected) == 6
    for j in range(steps):
        together = sorted(i for shard in shards for i in shard[j])
        assert together == sorted(expected[j])


def test_crop_rows_interleave_like_the_sampler():
    rows = [list(range(16))[crop_rows(16, r, 4)] for r in range(4)]
    assert sorted(sum(rows, [])) == list(range(16)) and rows[1] == [1, 5, 9, 13]


def test_caption_draw_depends_only_on_its_key():
    draws = [draw_caption(5, 0, epoch, 42) for epoch in range(40)]
    assert draws == [draw_caption(5, 0, epoch, 42) for epoch in range(40)]
    assert len(set(draws)) == 5  # every caption shows up over epochs
    assert draw_caption(1, 0, 3, 42) == 0 and keyed_choice(7, 1, 2, 3) in range(7)
    counts = torch.tensor([3, 1])
    dataset = PairDataset(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.arange(12).view(2, 3, 2), counts,
                          torch.tensor([10, 11]), torch.tensor([0, 1]), num_captions=3, seed=0)
    for epoch in range(6):
        expected = draw_caption(3, 0, epoch, 10)
        assert torch.equal(dataset[(0, epoch)]["text"], torch.arange(12).view(2, 3, 2)[0, expected])


def test_global_batch_must_divide_across_devices():
    data = build_data_for(["debug=fast", "data.batch_size=64"])
    dm = TrainingDataModule(data, data.manifest.train_ids("f"), seed=0)
    dm.trainer = SimpleNamespace(world_size=3, global_rank=0)
    with pytest.raises(ConfigError, match=r"data\.batch_size \(64\).*3 devices"):
        dm.setup("fit")
    dm.trainer = SimpleNamespace(world_size=4, global_rank=1)
    dm.setup("fit")
    assert dm.batch_size_per_device == 16 and dm.rank == 1


def test_gpu_per_job_assignment():
    assert [gpu_for_job(n, 4) for n in range(6)] == [0, 1, 2, 3, 0, 1]
    with pytest.raises(ConfigError, match="gpu_per_job"):
        gpu_for_job(0, 0)
    hw = load_settings_for(["hardware=gpu", "hardware.gpu_per_job=true"]).hardware
    assert hw.trainer_kwargs(job_num=5, num_gpus=4)["devices"] == [1]
    assert hw.trainer_kwargs(job_num=None, num_gpus=4)["devices"] == 1  # a single run: unchanged
    assert dataclasses.replace(hw, gpu_per_job=False).trainer_kwargs(job_num=5, num_gpus=4)["devices"] == 1


def test_ddp_inside_a_local_multirun_is_refused(monkeypatch):
    for name in ("SLURM_NTASKS", "TORCHELASTIC_RUN_ID", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="re-launch the whole sweep"):
        check_launch("ddp", 2, "MULTIRUN")
    check_launch("ddp", 2, "RUN")
    check_launch("auto", [1], "MULTIRUN")
    monkeypatch.setenv("SLURM_NTASKS", "8")
    check_launch("ddp", 4, "MULTIRUN")  # SLURM starts the ranks itself


def test_run_dir_override_feeds_hydra_run_dir():
    assert run_dir_override(["seed=1", "run_dir=/x/run"], "default") == "/x/run"
    assert run_dir_override(["seed=1"], "default") == "default"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["resume=true", "run_dir=/tmp/some_run"], return_hydra_config=True)
    assert cfg.hydra.run.dir == "/tmp/some_run"


@pytest.mark.parametrize(("launcher", "plugin_class"), [
    ("parallel", "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
    ("slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
])
def test_launcher_presets_compose_with_their_plugins(launcher, plugin_class):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra/launcher={launcher}", "hardware=slurm", "run_dir=/tmp/unused"],
                      return_hydra_config=True)
    settings = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert settings["_target_"] == plugin_class
    launcher_class = get_class(settings.pop("_target_"))
    launcher_class(**settings)  # the plugin accepts every documented key
    if launcher == "slurm":
        assert settings["tasks_per_node"] == settings["gpus_per_node"] == cfg.hardware.devices == 4
        assert settings["nodes"] == cfg.hardware.num_nodes == 2
        assert settings["submitit_folder"].startswith(str(cfg.hydra.sweep.dir))


TINY_ARCH = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 16, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 512, "width": 32, "heads": 2, "layers": 1},
}


def _tiny(**speed):
    import functools

    from clipmem.models.module import CLIPModule

    torch.manual_seed(0)
    return CLIPModule(TINY_ARCH, 16, 8, functools.partial(torch.optim.AdamW, lr=1e-3), **speed)


def test_speed_knobs_keep_the_loss_and_the_state_dict(monkeypatch):
    generator = torch.Generator().manual_seed(0)
    batch = {"image": torch.randn(4, 3, 16, 16, generator=generator),
             "text": torch.randint(1, 512, (4, 8), generator=generator)}
    plain = _tiny()
    reference = plain._loss(batch)
    for speed in ({"channels_last": True}, {"grad_checkpointing": True}):
        module = _tiny(**speed)
        module.train()
        loss = module._loss(batch)
        assert torch.allclose(loss, reference, atol=1e-5), speed
        loss.backward()
        assert all(p.grad is not None for p in module.clip.parameters() if p.requires_grad), speed
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compiled.append((type(self).__name__, kw)))
    module = _tiny(compile={"mode": "max-autotune"})
    assert [name for name, _ in compiled] == ["VisionTransformer", "Transformer"]
    assert compiled[0][1] == {"mode": "max-autotune"}
    assert module.clip.state_dict().keys() == plain.clip.state_dict().keys()  # saved models stay loadable


def test_fused_optimizer_only_on_cuda():
    module = _tiny(fused_optimizer=True)
    module._trainer = SimpleNamespace(estimated_stepping_batches=10)
    optimizer = module.configure_optimizers()["optimizer"]
    assert not optimizer.defaults.get("fused")  # CPU: the flag is ignored, not an error


def test_scoring_device_follows_the_job_gpu(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert hardware.eval_device("cpu", [3]) == torch.device("cpu")
    assert hardware.eval_device("gpu", [3]) == torch.device("cuda", 3)
    assert hardware.eval_device("gpu", 1) == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert hardware.eval_device("gpu", 2) == torch.device("cuda", 1)


def test_a_batch_at_once_equals_the_items_one_by_one():
    g = torch.Generator().manual_seed(0)
    views = torch.randint(0, 255, (6, 3, 3, 4, 4), dtype=torch.uint8, generator=g)
    dataset = PairDataset(views[:, 0], torch.arange(6 * 4 * 2).view(6, 4, 2), torch.tensor([4, 1, 3, 2, 4, 4]),
                          torch.tensor([10, 11, 12, 13, 14, 15]), torch.tensor([5, 3, 1, 0]), num_captions=3,
                          views=views, seed=7)
    keys = [(0, 2), (1, 2), (2, 3), (3, 0)]
    batch = dataset.__getitems__(keys)
    items = [dataset[k] for k in keys]
    for name in ("image", "text", "sample_id"):
        assert torch.equal(batch[name], torch.stack([item[name] for item in items])), name
