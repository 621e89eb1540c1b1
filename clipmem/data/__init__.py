"""Data: the synthetic generator, sources, splits, transforms and the LightningDataModule."""

from clipmem.data.csv_source import CsvSource
from clipmem.data.datamodule import CLIPMemDataModule
from clipmem.data.sources import SyntheticSource, SyntheticZeroShot, ZeroShotSet
from clipmem.data.splits import SplitManifest, make_splits
from clipmem.data.table import ImageTextTable

__all__ = [
    "CLIPMemDataModule",
    "CsvSource",
    "ImageTextTable",
    "SplitManifest",
    "SyntheticSource",
    "SyntheticZeroShot",
    "ZeroShotSet",
    "make_splits",
]
