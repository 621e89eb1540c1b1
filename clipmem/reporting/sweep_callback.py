"""A Hydra callback: after a multirun, write the sweep table and plots and list jobs that did not complete."""

from __future__ import annotations

import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from clipmem.io import check_writable


class SweepReportCallback(Callback):
    """Before a multirun: check the sweep directory can be created. After it: aggregate the sweep directory
    (sweep_results.csv/.md and plots) and exit with status 1 when a job failed."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Before Hydra creates the sweep directory: one line and exit 1 if it cannot be created."""
        check_writable(str(config.hydra.sweep.dir))
        if is_search(config):
            plain_optuna_logs()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        from clipmem.reporting.sweep import aggregate_sweep, format_sweep_summary

        report = aggregate_sweep(config.hydra.sweep.dir, search=is_search(config))
        print(format_sweep_summary(report.table_csv.parent, report.records), flush=True)
        print(f"  table: {report.table_md}", flush=True)
        if report.failed:
            print(f"clipmem: error: {len(report.failed)} of {len(report.records)} jobs did not complete "
                  f"(see {report.table_md})", file=sys.stderr, flush=True)
            sys.exit(1)


def is_search(config: DictConfig) -> bool:
    """A hyper-parameter search (Hydra's Optuna sweeper) rather than a grid of settings."""
    return "optuna" in str(config.hydra.sweeper.get("_target_", "")).lower()


def plain_optuna_logs() -> None:
    """Optuna 2.10 colours its log lines whatever the output; hand them to the plain root logger instead (no escape
    codes in logs and files)."""
    try:
        import optuna
    except ImportError:
        return
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
