"""Two CPU processes (gloo) against one: the loss, its gradients and a whole DDP run through train.py."""

from __future__ import annotations

import datetime
import functools
import os
import socket
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from clipmem.models.module import CLIPModule

from .conftest import run_script

TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 16, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 512, "width": 32, "heads": 2, "layers": 1},
}
GLOBAL_BATCH, WORLD = 8, 2


def _module(rank: int, world: int) -> CLIPModule:
    torch.manual_seed(0)  # identical initial weights in every process
    module = CLIPModule(TINY, image_size=16, context_length=8, optimizer=functools.partial(torch.optim.AdamW))
    module._trainer = SimpleNamespace(world_size=world, global_rank=rank)
    module.setup("fit")  # builds ClipLoss(local_loss, gather_with_grad, rank, world_size) as under Lightning
    module._trainer = None
    return module


def _global_batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(GLOBAL_BATCH, 3, 16, 16, generator=generator)
    tokens = torch.randint(1, 512, (GLOBAL_BATCH, 8), generator=generator)
    return images, tokens


def _loss_and_grads(module: CLIPModule, model: torch.nn.Module, images, tokens) -> tuple[float, dict]:
    image_features, text_features, logit_scale = model(images, tokens)  # through DDP: its hooks average grads
    loss = module.loss_fn(image_features, text_features, logit_scale)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in module.clip.named_parameters() if p.grad is not None}
    return float(loss.detach()), grads


def _rank(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    # a rendezvous that cannot complete (a rank that never started) fails in 2 minutes instead of hanging the suite
    dist.init_process_group("gloo", rank=rank, world_size=WORLD, timeout=datetime.timedelta(seconds=120))
    try:
        module = _module(rank, WORLD)
        images, tokens = _global_batch()
        shard = slice(rank, GLOBAL_BATCH, WORLD)  # EpochSampler's interleaved shard of the global batch
        ddp = DistributedDataParallel(module.clip)
        loss, grads = _loss_and_grads(module, ddp, images[shard], tokens[shard])
        torch.save({"loss": loss, "grads": grads}, Path(out) / f"rank{rank}.pt")
        del ddp  # its reducer holds the process group: freed after destroy_process_group, gloo's teardown can hang
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_loss_and_gradients_equal_the_full_batch(tmp_path):
    mp.spawn(_rank, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]

    module = _module(0, 1)
    images, tokens = _global_batch()
    loss, grads = _loss_and_grads(module, module.clip, images, tokens)

    # local loss over the rank's rows against all global columns: the ranks' mean is the full loss
    assert abs(sum(r["loss"] for r in ranks) / WORLD - loss) < 1e-5
    assert abs(ranks[0]["loss"] - ranks[1]["loss"]) > 1e-6  # each rank saw different rows
    assert set(grads) == set(ranks[0]["grads"]) and len(grads) > 10
    for name, full in grads.items():
        for r in ranks:  # DDP's averaged gradient on every rank equals the full-batch gradient
            assert torch.allclose(r["grads"][name], full, atol=1e-5, rtol=1e-4), name
    assert any(g.abs().max() > 1e-3 for g in grads.values())


def test_ddp_run_on_two_cpu_processes_matches_single_process_evaluation(tmp_path):
    """`train.py hardware=ddp` with 2 gloo processes: one run directory, and `evaluate.py` on one process
    reproduces its scores.csv byte for byte."""
    done = run_script(
        "train.py", "debug=fast", "hardware=ddp", "hardware.accelerator=cpu", "hardware.devices=2",
        "hardware.precision=32-true", "hardware.matmul_precision=highest", "trainer.enable_progress_bar=false",
        "callbacks=none", cwd=tmp_path, timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "default").iterdir()  # the child rank used the parent's directory
    assert (run_dir / "scores.csv").is_file() and (run_dir / "models" / "f" / "open_clip_model.safetensors").is_file()
    assert "train_ddp_process_1" in " ".join(p.name for p in run_dir.iterdir())  # rank 1 logged in the same dir
    before = (run_dir / "scores.csv").read_text()
    evaluated = run_script("evaluate.py", f"run_dir={run_dir}", "device=cpu", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert (run_dir / "scores.csv").read_text() == before


SWEEP_APP = '''
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig

import clipmem.config

clipmem.config.register()  # the structured schemas the train config extends


@hydra.main(config_path={conf!r}, config_name="train", version_base="1.3")
def main(cfg):
    Path(HydraConfig.get().runtime.output_dir, "job.txt").write_text(str(cfg.seed))


if __name__ == "__main__":
    main()
'''


def test_parallel_sweep_jobs_share_one_sweep_dir(tmp_path):
    """The joblib launcher's jobs run in other processes, where ${now:} and ${short_uuid:} would give
    new values if resolved again: every job must still land in the one sweep directory."""
    import subprocess
    import sys

    from .conftest import CONF, ROOT

    app = tmp_path / "app.py"
    app.write_text(SWEEP_APP.format(conf=str(CONF)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(app), "-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2",
                            "seed=0,1,2", "+hydra.callbacks.sweep_report.enabled=false"],  # toy jobs: no runs
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "default" / "multirun").iterdir()
    assert sorted((sweep / str(n) / "job.txt").read_text() for n in range(3)) == ["0", "1", "2"]
