"""Running experiments: the lifecycle of a run directory, ``run_experiment`` (train.py) and re-scoring
(evaluate.py)."""

from clipmem.run.evaluate import evaluate_config, evaluate_entry, evaluate_run_dir, evaluate_sweep_dir
from clipmem.run.experiment import objective, run_experiment

__all__ = ["evaluate_config", "evaluate_entry", "evaluate_run_dir", "evaluate_sweep_dir", "objective", "run_experiment"]
