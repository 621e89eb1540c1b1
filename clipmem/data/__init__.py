"""Data: sources, the synthetic generator, splits, the frozen experiment data and the DataModule."""

from clipmem.data.build import build_data
from clipmem.data.csv_source import CsvSource
from clipmem.data.datamodule import TrainingDataModule
from clipmem.data.experiment_data import ExperimentData, PairSet
from clipmem.data.hf_source import HFSource
from clipmem.data.imagefolder import ImageFolderZeroShot
from clipmem.data.settings import DataSettings
from clipmem.data.sources import DataSource, SyntheticSource, SyntheticZeroShot, ZeroShotSet, ZeroShotSource
from clipmem.data.splits import SplitManifest, make_splits
from clipmem.data.table import ImageTextTable
from clipmem.data.wds_source import WebDatasetSource

__all__ = [
    "CsvSource",
    "DataSettings",
    "DataSource",
    "ExperimentData",
    "HFSource",
    "ImageFolderZeroShot",
    "ImageTextTable",
    "PairSet",
    "SplitManifest",
    "SyntheticSource",
    "SyntheticZeroShot",
    "TrainingDataModule",
    "WebDatasetSource",
    "ZeroShotSet",
    "ZeroShotSource",
    "build_data",
    "make_splits",
]
