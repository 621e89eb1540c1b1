"""Read the config of a run made before the plan reshape (``evaluate.py run_dir=<older run>``).

Older configs instantiated ``clipmem.data.CLIPMemDataModule`` with ``data.seed``, named mitigations by
``name`` and had no ``design``, ``hardware._target_`` or ``_target_`` loggers/callbacks. ``upgrade`` maps
them onto today's groups; everything that determines the scores (data, splits, model, scoring) is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from clipmem.errors import RunDirError

OLD_DATAMODULE = "clipmem.data.CLIPMemDataModule"
MITIGATION_CLASSES = {
    "none": "clipmem.mitigations.NoMitigation",
    "multi_caption": "clipmem.mitigations.MultiCaption",
    "multi_image": "clipmem.mitigations.MultiImage",
    "text_noise": "clipmem.mitigations.TextNoise",
    "image_noise": "clipmem.mitigations.ImageNoise",
    "text_augment": "clipmem.mitigations.TextAugment",
    "remove_topk": "clipmem.mitigations.RemoveTopK",
}


# Modules of clipmem.data that moved into its sub-packages (sources/, zeroshot/, splits/, batches/): a saved config
# naming the old module path is read with the new one.
MOVED_DATA_MODULES = {
    "sources": "sources.base",
    "synthetic": "sources.synthetic",
    "csv_source": "sources.csv_source",
    "hf_source": "sources.hf_source",
    "wds_source": "sources.wds_source",
    "wds_stream": "sources.wds_stream",
    "tar_shards": "sources.tar_shards",
    "prepared": "sources.prepared",
    "records": "sources.records",
    "images": "sources.images",
    "bad_samples": "sources.bad_samples",
    "animal_mnist": "zeroshot.animal_mnist",
    "heldout": "zeroshot.heldout",
    "imagefolder": "zeroshot.imagefolder",
    "splits": "splits.manifest",
    "miscaption": "splits.miscaption",
    "atypical": "splits.atypical",
    "fingerprint": "splits.fingerprint",
    "image_hashes": "splits.near_duplicates",
    "seeding": "batches.seeding",
    "transforms": "batches.transforms",
    "text": "batches.text",
}


def relocate_targets(cfg: DictConfig) -> DictConfig:
    """``cfg`` with every ``_target_`` that names a moved module of ``clipmem.data`` pointed at its new path."""
    return OmegaConf.create(_relocated(OmegaConf.to_container(cfg, resolve=False)))


def _relocated(node: Any) -> Any:
    if isinstance(node, list):
        return [_relocated(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _relocated(value) for key, value in node.items()}
    target = out.get("_target_")
    if isinstance(target, str) and target.startswith("clipmem.data."):
        module, _, attribute = target.removeprefix("clipmem.data.").rpartition(".")
        if module in MOVED_DATA_MODULES:
            out["_target_"] = f"clipmem.data.{MOVED_DATA_MODULES[module]}.{attribute}"
    return out


def is_legacy(cfg: DictConfig) -> bool:
    return cfg.get("data", {}).get("_target_") == OLD_DATAMODULE or "design" not in cfg


def _mitigation(old: dict[str, Any], source: str) -> dict[str, Any]:
    name = old.pop("name", "none")
    if name not in MITIGATION_CLASSES:
        raise RunDirError(f"{source}: unknown mitigation {name!r} in an older run's config")
    return {"_target_": MITIGATION_CLASSES[name], **old}


def _wandb(old: dict[str, Any] | None, name: str, run_dir: str) -> dict[str, Any]:
    if not old or not old.get("wandb"):
        return {}
    return {"wandb": {"_target_": "clipmem.reporting.tracking.wandb_logger", "save_dir": run_dir, "name": name,
                      **old["wandb"]}}


def upgrade(cfg: DictConfig, run_dir: str, source: str = "config") -> DictConfig:
    """Today's shape of an older run's config (``source`` names its file in errors); others are returned as is."""
    missing = [key for key in ("data", "model", "scoring") if key not in cfg]
    if missing:
        raise RunDirError(f"{source}: not a clipmem run config (no {', '.join(missing)} section)")
    if not is_legacy(cfg):
        return cfg
    old = OmegaConf.to_container(cfg, resolve=False)
    data = old["data"]
    data["_target_"] = "clipmem.data.DataSettings"
    data["split_seed"] = data.pop("seed", old.get("seed", 0))
    old["mitigation"] = _mitigation(dict(old.get("mitigation") or {}), source)
    old["hardware"] = {"_target_": "clipmem.hardware.HardwareSettings", "slurm_auto_requeue": True,
                       **old.get("hardware", {})}
    old["design"] = {"_target_": "clipmem.plan.PairDesign"}
    old["logger"] = _wandb(old.get("logger"), str(old.get("name", "default")), run_dir)
    old["callbacks"] = {}  # training-time callbacks do not matter for re-scoring
    old["run_dir"] = run_dir
    return OmegaConf.create(old)


def saved_run_config(path: Path, run_dir: Path, scoring_overrides: dict[str, Any] | None = None) -> DictConfig:
    """A run's saved config (``.hydra/config.yaml``) in today's shape, pointed at ``run_dir``, with
    ``scoring_overrides`` (evaluate.py's ``scoring.*``) applied."""
    cfg = relocate_targets(upgrade(OmegaConf.load(path), str(run_dir), str(path)))
    with open_dict(cfg):
        cfg.run_dir = str(run_dir)
        if cfg.model.get("pretrained"):  # the saved models carry their weights: the starting ones are not needed
            cfg.model.pretrained = None
        for key, value in (scoring_overrides or {}).items():
            cfg.scoring[key] = value
        _older_audit(cfg)
    return cfg


def _older_audit(cfg: DictConfig) -> None:
    """Audits before the cross-fitted design flagged by a robust-z ``threshold`` over ``design=inout`` models: the
    key is gone, and re-scoring such a run recomputes its scores without redoing its audit (audit.csv is kept).
    Audits before ``audit.min_steps`` trained for ``trainer.max_epochs`` whatever the set's size: 0 says so."""
    audit = cfg.get("audit")
    if audit is None:
        return
    audit.pop("threshold", None)
    if "min_steps" not in audit:  # trained before the epochs of small sets were raised: as it was
        audit.min_steps = 0
    if "crossfit" not in str(cfg.design.get("_target_", "")).lower():
        audit.enabled = False
