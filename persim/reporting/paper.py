"""The paper's published numbers (Tables 3, 5-16), shipped with the package as data."""
from __future__ import annotations

from importlib import resources

import pandas as pd

PAPER_COLUMNS = ["table", "env", "dataset", "n_train_agents", "method", "agent", "covariates", "metric", "mean", "std"]


def paper_tables_path() -> str:
    return str(resources.files("persim.reporting") / "data" / "paper_tables.csv")


def load_paper_tables(path: str | None = None) -> pd.DataFrame:
    """Long-form paper numbers; ``agent`` is a nullable Int64 (empty for all-agent averages)."""
    path = path or paper_tables_path()
    frame = pd.read_csv(path, dtype={"dataset": "string", "method": "string", "covariates": "string"})
    missing = [c for c in PAPER_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    frame["agent"] = frame["agent"].astype("Int64")
    return frame
