"""Recompute scores, metrics and plots of a run from its saved models: `python evaluate.py run_dir=...`."""

import hydra
from omegaconf import DictConfig, OmegaConf

import clipmem  # noqa: F401  (first: makes torchvision importable on CPU-only torch)
from clipmem.cli import run_cli
from clipmem.experiment import evaluate_run_dir


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> float:
    overrides = {k: v for k, v in OmegaConf.to_container(cfg.scoring, resolve=True).items() if v is not None}
    metrics = run_cli(lambda: evaluate_run_dir(cfg.run_dir, overrides, cfg.device, bool(cfg.logger)))
    return metrics["clipmem_mean"]


if __name__ == "__main__":
    main()
