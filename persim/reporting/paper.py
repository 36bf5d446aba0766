"""The paper's published numbers (Tables 3, 5-16), shipped with the package as data."""
from __future__ import annotations

from importlib import resources

import pandas as pd

from persim.reporting.labels import REWARD_TABLES, base_label

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


def with_reference_rows(paper: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """``paper`` (one row per published number, with columns ``env`` and ``method`` in the paper's
    spelling, and ``table`` / ``metric`` where present) plus, for every (env, label) pair of
    ``reference`` (the ``env`` and ``method`` columns of our rows at the reference budget, e.g.
    ``"PerSim (reference budget)"``), a copy of the paper's reward cells (Tables 9-11) of the method
    it names, under that label: a row at the reference budget (:mod:`persim.reference_budget`) is
    judged against the paper's cells of its method."""
    pairs = reference[["env", "method"]].drop_duplicates()
    keep = pd.Series(True, index=paper.index)
    if "table" in paper:
        keep &= paper["table"].isin(list(REWARD_TABLES.values()))
    if "metric" in paper:
        keep &= paper["metric"] == "reward"
    copies = [paper[keep & (paper["env"] == env) & (paper["method"] == base_label(label))].assign(method=label)
              for env, label in pairs.itertuples(index=False)]
    copies = [c for c in copies if len(c)]
    return pd.concat([paper, *copies], ignore_index=True) if copies else paper
