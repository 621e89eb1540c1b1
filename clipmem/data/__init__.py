"""Data: ``sources/`` (where pairs come from), ``zeroshot/`` (sets measured beside the scores), ``splits/`` (who is
in which subset), ``batches/`` (seeded order, transforms, tokenizer); here the table every source returns, the
``data`` settings, the frozen experiment data, the step that builds it and the training DataModule."""

from clipmem._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "build_data": "build",
    "CsvSource": "sources.csv_source",
    "TrainingDataModule": "datamodule",
    "ExperimentData": "experiment_data",
    "PairSet": "experiment_data",
    "HFSource": "sources.hf_source",
    "ImageFolderZeroShot": "zeroshot.imagefolder",
    "DataSettings": "settings",
    "DataSource": "sources.base",
    "SyntheticSource": "sources.base",
    "SyntheticZeroShot": "sources.base",
    "ZeroShotSet": "sources.base",
    "ZeroShotSource": "sources.base",
    "SplitManifest": "splits.manifest",
    "make_splits": "splits.manifest",
    "ImageTextTable": "table",
    "WebDatasetSource": "sources.wds_source",
})
__all__ = sorted(__dir__())
