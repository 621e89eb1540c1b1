"""Data: sources, the synthetic generator, splits, the frozen experiment data and the DataModule."""

from clipmem._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "build_data": "build",
    "CsvSource": "csv_source",
    "TrainingDataModule": "datamodule",
    "ExperimentData": "experiment_data",
    "PairSet": "experiment_data",
    "HFSource": "hf_source",
    "ImageFolderZeroShot": "imagefolder",
    "DataSettings": "settings",
    "DataSource": "sources",
    "SyntheticSource": "sources",
    "SyntheticZeroShot": "sources",
    "ZeroShotSet": "sources",
    "ZeroShotSource": "sources",
    "SplitManifest": "splits",
    "make_splits": "splits",
    "ImageTextTable": "table",
    "WebDatasetSource": "wds_source",
})
__all__ = sorted(__dir__())
