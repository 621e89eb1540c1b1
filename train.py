"""Run a CLIPMem experiment: `python train.py [group=option ...] [key=value ...]` (Hydra; -m to sweep)."""

import hydra
from omegaconf import DictConfig

import clipmem.config  # noqa: F401  (first: torchvision shim, resolvers and config schemas)
from clipmem.cli import run_cli
from clipmem.run import run_experiment


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    metrics = run_cli(lambda: run_experiment(cfg))
    return metrics["clipmem_mean"] if metrics else float("nan")  # None: a failed multirun job or a DDP rank > 0


if __name__ == "__main__":
    main()
