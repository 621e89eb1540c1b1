"""Recompute a run's scores, metrics and plots from its saved models (`python evaluate.py run_dir=...`),
or tabulate and plot a whole sweep (`python evaluate.py sweep_dir=<multirun dir>`)."""

import hydra
from omegaconf import DictConfig

from clipmem.config import register

register()  # resolvers and schemas, before Hydra composes the config


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from clipmem.cli import run_cli
    from clipmem.run import evaluate_config

    return run_cli(lambda: evaluate_config(cfg))


if __name__ == "__main__":
    main()
