"""Offline datasets: lock-step rollouts, the Parquet schema and its validating loader."""
from persim.data.generate import BEHAVIOURS, generate_dataset
from persim.data.schema import DatasetError, OfflineDataset, expected_columns, load_dataset, write_dataset

__all__ = ["BEHAVIOURS", "DatasetError", "OfflineDataset", "expected_columns", "generate_dataset",
           "load_dataset", "write_dataset"]
