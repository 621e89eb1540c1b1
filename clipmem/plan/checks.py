"""Checks of a plan against its data before anything trains, and of a model after it trained: a model that would
take (or took) no optimizer step must not be scored as if it had learned (docs/faults.md)."""

from __future__ import annotations

import math

from clipmem.data.experiment_data import ExperimentData
from clipmem.errors import ConfigError
from clipmem.plan.spec import Plan


def minimum_rows(batch_size: int, folds: int | None) -> int:
    """The fewest audited rows with which every model of ``design=crossfit`` (``folds``) trains on at least one
    batch; for other designs the fewest training pairs of one model (one batch)."""
    if folds is None:
        return batch_size
    rows = batch_size
    while rows - math.ceil(rows / folds) < batch_size:
        rows += 1
    return rows


def check_plan_steps(plan: Plan, data: ExperimentData, folds: int | None = None) -> None:
    """Every model trains on at least one whole batch (the last partial batch of an epoch is dropped): otherwise a
    one-line ConfigError saying the minimum and what to change."""
    if data.stream is not None:  # streamed plans equal every model's steps themselves (wds_stream)
        return
    smallest = min(len(spec.train_ids) for spec in plan.specs)
    batch = data.batch_size
    if smallest >= batch:
        return
    if folds is not None:
        raise ConfigError(
            f"design=crossfit with {folds} folds trains each model on {smallest} of the {len(plan.scored_ids)} audited "
            f"pairs, fewer than one batch (data.batch_size={batch}): an audit needs at least "
            f"{minimum_rows(batch, folds)} pairs at this batch size; lower data.batch_size (e.g. "
            f"data.batch_size={max(2, 2 ** int(math.log2(max(smallest, 2))))}) or raise design.folds")
    name = next(spec.name for spec in plan.specs if len(spec.train_ids) == smallest)
    raise ConfigError(f"model {name} would train on {smallest} pairs, fewer than one batch (data.batch_size={batch}), "
                      "and take no optimizer step; lower data.batch_size or give it more pairs (data.splits)")


def epochs_for_steps(plan: Plan, batch_size: int, epochs: int, min_steps: int, processes: int = 1,
                     accumulate: int = 1) -> int:
    """The epochs every model of ``plan`` trains for so that the one with the fewest optimizer steps per epoch
    takes at least ``min_steps``: ``epochs``, or more. An epoch of n training pairs gives each of ``processes``
    data-parallel processes n // processes pairs, whole batches of ``batch_size`` (per process) of them, and an
    optimizer step every ``accumulate`` batches."""
    smallest = min(len(spec.train_ids) for spec in plan.specs)
    per_epoch = smallest // max(int(processes), 1) // max(int(batch_size), 1) // max(int(accumulate), 1)
    if min_steps <= 0 or per_epoch <= 0:
        return int(epochs)
    return max(int(epochs), math.ceil(min_steps / per_epoch))


def check_trained(name: str, global_step: int, epochs: int | None) -> None:
    """After training: a model that took no optimizer step stops the run before it is scored."""
    if global_step <= 0:
        raise ConfigError(f"model {name} took no optimizer step (trainer.max_epochs={epochs}): scores of an untrained "
                          "model would mean nothing; set trainer.max_epochs ≥ 1")
