"""Data: ``sources/`` (where pairs come from), ``zeroshot/`` (sets measured beside the scores), ``splits/`` (who is
in which subset), ``loading/`` (the DataModule); here the table every source returns, the ``data`` settings, the
frozen experiment data and the step that builds it."""

from clipmem._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "build_data": "build",
    "CsvSource": "sources.csv_source",
    "TrainingDataModule": "loading.datamodule",
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
