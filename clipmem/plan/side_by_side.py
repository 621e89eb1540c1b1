"""Train several models of a plan at once in forked CPU processes (``hardware.models_at_once``).

Small models on a CPU use several threads poorly: two nano models side by side with one thread each finish sooner
than the same two in turn with two threads each (docs/audit.md, "Time"). Each worker trains one
model exactly as ``train_model`` does in the main process (same seed, data and recipe) and saves it in
``models/<name>``; the main process then loads and measures every model in plan order, as it does for models a
resumed run finds finished.

Workers are forked, so they share the data (copy on write) without pickling it, and they publish files through the
run lock they inherit (``clipmem.run.runlock``). They log no training curves to W&B or CSV loggers (the main
process's loggers are not fork-safe), draw no progress bars (their log lines go to ``train.log``), and run no
callbacks (``callbacks=none``): a callback compares a model with the one trained before it or logs to those loggers.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

import torch

from clipmem.plan.training import TrainingContext, TrainingRecipe, train_model
from clipmem.progress import format_duration

log = logging.getLogger(__name__)

# What forked workers read: set in the parent right before the pool forks, so nothing is pickled but an index.
_JOBS: dict[str, object] = {}


def _train_one(index: int) -> tuple[str, float]:
    """(model name, seconds) after training ``_JOBS['contexts'][index]`` in this worker process."""
    contexts: list[TrainingContext] = _JOBS["contexts"]  # type: ignore[assignment]
    recipe: TrainingRecipe = _JOBS["recipe"]  # type: ignore[assignment]
    torch.set_num_threads(1)  # GNU OpenMP does not survive fork: more than one thread here can hang
    started = time.perf_counter()
    train_model(contexts[index], recipe, [], bool(_JOBS["resume"]), _JOBS["peers"])  # type: ignore[arg-type]
    return contexts[index].spec.name, round(time.perf_counter() - started, 2)


def quiet_recipe(recipe: TrainingRecipe) -> TrainingRecipe:
    """The recipe a worker trains with: no progress bar (several processes would draw over each other)."""
    return dataclasses.replace(recipe, trainer_kwargs={**recipe.trainer_kwargs, "enable_progress_bar": False})


def train_side_by_side(contexts: list[TrainingContext], recipe: TrainingRecipe, workers: int, resume: bool,
                       peers: list[tuple[int, ...]]) -> dict[str, float]:
    """Train every model of ``contexts``, ``workers`` at a time, each with one torch thread (GNU OpenMP's
    thread pool does not survive a fork: a forked worker that runs more than one thread can hang); returns
    model name -> training seconds. Each model is saved in ``models/<name>`` by its worker.

    Raises:
        RuntimeError: a model failed to train (naming it; the worker's own error is chained). Models still
            training are left to finish, those not started are cancelled.
    """
    if not contexts:
        return {}
    _JOBS.update(contexts=contexts, recipe=quiet_recipe(recipe), resume=resume, peers=peers)
    log.info("training %d models side by side: %d at once, one thread each (hardware.models_at_once)",
             len(contexts), workers)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            pending: dict[Future, str] = {pool.submit(_train_one, i): c.spec.name for i, c in enumerate(contexts)}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = pending.pop(future)
                    try:
                        seconds[name] = future.result()[1]
                    except KeyboardInterrupt:  # Ctrl-C reached the workers too: the run is interrupted, not failed
                        raise
                    except BaseException as err:
                        for other in pending:
                            other.cancel()
                        raise RuntimeError(f"model {name} failed while training side by side "
                                           f"(hardware.models_at_once): {err}") from err
                    log.info("side by side: %s trained in %s (%d of %d, %s elapsed)", name,
                             format_duration(seconds[name]), len(seconds), len(contexts),
                             format_duration(time.monotonic() - started))
    finally:
        _JOBS.clear()
    return seconds
