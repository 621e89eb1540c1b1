"""Run a CLIPMem experiment: `python train.py [group=option ...] [key=value ...]` (Hydra; -m to sweep)."""

import hydra
from omegaconf import DictConfig

import clipmem  # noqa: F401  (first: makes torchvision importable on CPU-only torch)
from clipmem.cli import run_cli
from clipmem.config import register_resolvers
from clipmem.experiment import run_experiment

register_resolvers()


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    metrics = run_cli(lambda: run_experiment(cfg))
    return metrics["clipmem_mean"] if metrics else float("nan")  # None: a failed multirun job or a DDP rank > 0


if __name__ == "__main__":
    main()
