"""Run a CLIPMem experiment: `python train.py [group=option ...] [key=value ...]` (Hydra; -m to sweep)."""

import hydra
from omegaconf import DictConfig

from clipmem.config import register

register()  # resolvers and schemas, before Hydra composes the config (light: `--help` loads no torch)


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    """Returns the run's ``optimized_metric`` (default clipmem_raw_mean): what a sweeper such as Optuna optimizes."""
    from clipmem.cli import run_cli
    from clipmem.config.settings import run_options
    from clipmem.run import objective, run_experiment

    name = run_options(cfg).optimized_metric
    value = run_cli(lambda: objective(run_experiment(cfg), name))
    return float("nan") if value is None else value  # None: a failed multirun job


if __name__ == "__main__":
    main()
