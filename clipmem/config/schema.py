"""Structured configs: the types and defaults of the top-level keys, checked by Hydra at compose time.

``conf/train.yaml`` starts from ``train_schema`` and ``conf/evaluate.yaml`` from ``evaluate_schema``;
config groups (model, data, mitigation, ...) carry ``_target_`` objects that validate themselves when
``clipmem.config.settings`` instantiates them, before anything trains.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore

from clipmem.analysis.config import AnalysisConfig
from clipmem.audit.config import AuditConfig
from clipmem.errors import ConfigError
from clipmem.reporting.config import ReportConfig
from clipmem.scoring.config import ScoringConfig


@dataclass
class TrainConfig:
    """``python train.py``: one experiment (docs/configuration.md lists every key).

    name: outputs/<name>/<date>_<time>_<uuid>/; presets set their own.
    seed: the experiment seed: model initialisation, data order, crops and (by default) the split draw.
    run_dir: where the run writes (Hydra's output directory unless given).
    resume: true (with run_dir=<run>) continues a killed run from its last checkpoints.
    checkpoints: Lightning checkpoints under <run_dir>/checkpoints/<model>/, saved every epoch.
    skip_completed: a run_dir whose status.json says complete with the same config is not trained again.
    optimized_metric: the metrics.json key train.py returns (what a sweeper such as Optuna optimizes):
        clipmem_raw_mean (default; comparable across runs, unlike the per-run min-max clipmem_mean),
        miscaption_auc, val_loss_<model>, zeroshot_top1_<model>, ... (``clipmem.run.objective``); with several
        families ``<family>_<metric>`` (an unprefixed name is the first family's).
    print_config: print the composed config (resolved YAML) before the run starts.
    families: name -> family (``_target_`` entries of ``conf/family/``); null: the CLIP family alone.
    """

    name: str = "default"
    seed: int = 0
    run_dir: str = "${hydra:runtime.output_dir}"
    resume: bool = False
    checkpoints: bool = True
    skip_completed: bool = True
    optimized_metric: str = "clipmem_raw_mean"
    print_config: bool = False
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    families: Any = None
    # config groups: each entry is a `_target_` object (or a dict of them) that validates itself
    model: Any = None
    data: Any = None
    mitigation: Any = None
    design: Any = None
    hardware: Any = None
    logger: Any = None
    callbacks: Any = None
    trainer: Any = None


def _optional_fields(cls: type) -> list[tuple[str, Any, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, Optional[hints[f.name]], None) for f in dataclasses.fields(cls)]  # noqa: UP045


# evaluate.py's scoring overrides: every ScoringConfig key, typed the same, null = keep the run's value
ScoringOverrides = dataclasses.make_dataclass("ScoringOverrides", _optional_fields(ScoringConfig))


@dataclass
class EvaluateConfig:
    """``python evaluate.py``: re-score one run (``run_dir``) or tabulate a sweep (``sweep_dir``).

    device: auto | cpu | cuda (where the models encode).
    analysis: null (re-score), ``unitmem`` (UnitMem per layer) or ``layermem`` (LayerMem per layer) of the run's
        saved models instead (with the run's ``analysis.*`` settings), written into a new evaluation folder as well.
    wandb: null (default) logs the recomputed results (or the analysis) to a W&B run when the training run logged
        to W&B; true always, false never. The W&B run lives in the evaluation folder and joins the training run's group
        with job type ``evaluate``.
    reference: with ``sweep_dir``, a finished sweep one of whose settings is the reference of a further paired
        table, ``sweep_differences_vs_reference.csv/.md`` (e.g. a removal sweep against the runs it removed from);
        ``reference_setting`` names that setting by its label in the reference's sweep_settings.md (null: its first).
    review: with ``run_dir`` of an audit, a CSV of your verdicts on some of its audit.csv rows (a ``verdict`` column:
        wrong, correct or empty, and the row's ``sample_id`` or ``key``): the number of wrong pairs estimated from
        them, written with the reviewed audit.csv into a new evaluation folder (docs/audit.md, "Review the top").
    """

    run_dir: Optional[str] = None  # noqa: UP045  (OmegaConf reads typing.Optional, not `X | None`)
    sweep_dir: Optional[str] = None  # noqa: UP045
    device: str = "auto"
    scoring: ScoringOverrides = field(default_factory=ScoringOverrides)  # type: ignore[valid-type]
    wandb: Optional[bool] = None  # noqa: UP045  (not `logger`: that name is train.py's config group)
    analysis: Optional[str] = None  # noqa: UP045
    reference: Optional[str] = None  # noqa: UP045
    reference_setting: Optional[str] = None  # noqa: UP045
    review: Optional[str] = None  # noqa: UP045


def register_schemas() -> None:
    """Store the schemas under the names the primary configs' defaults lists use."""
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    store.store(name="evaluate_schema", node=EvaluateConfig)


def check_known_keys(cfg: Mapping[str, Any], schema: type, prefix: str = "") -> None:
    """Refuse a key of ``cfg`` that the dataclass ``schema`` has no field for (what Hydra lets ``+key=value`` add),
    naming the closest field and every allowed one; sections whose field is itself a dataclass (``scoring``,
    ``audit``, ...) are checked the same way, key by key."""
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key in cfg:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            where = f"of {prefix.rstrip('.')}" if prefix else "at the top level"
            raise ConfigError(f"{prefix}{key} is not a setting{hint}; the settings {where} are: {sorted(fields)}")
        section = fields[key].default_factory
        if dataclasses.is_dataclass(section) and isinstance(cfg[key], Mapping):
            check_known_keys(cfg[key], section, f"{prefix}{key}.")


def check_model_option(cfg: Mapping[str, Any]) -> None:
    """A model option names its ``arch``; ``model=_clip``, the keys the options share, names none and is refused
    before anything reads the model keys it lacks (``model.image_size``)."""
    model = cfg.get("model")
    if model is not None and "arch" not in list(model):  # an arch left ??? is in the keys: check_missing names it
        raise ConfigError("model has no arch: model=_clip holds the keys the model options share and is not a model "
                          "itself; choose a model option (model=nano, nano_minilm, lite0_minilm, rn50 or vit_b32)")
