"""Data: the synthetic generator, sources, splits, transforms and the LightningDataModule."""

from clipmem.data.csv_source import CsvSource
from clipmem.data.datamodule import CLIPMemDataModule
from clipmem.data.imagefolder import ImageFolderZeroShot
from clipmem.data.sources import SyntheticSource, SyntheticZeroShot, ZeroShotSet
from clipmem.data.splits import SplitManifest, make_splits
from clipmem.data.table import ImageTextTable
from clipmem.data.wds_source import WebDatasetSource

__all__ = [
    "CLIPMemDataModule",
    "CsvSource",
    "ImageFolderZeroShot",
    "ImageTextTable",
    "SplitManifest",
    "SyntheticSource",
    "SyntheticZeroShot",
    "WebDatasetSource",
    "ZeroShotSet",
    "make_splits",
]
