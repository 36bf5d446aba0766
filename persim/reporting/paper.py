"""The paper's published numbers (Tables 3, 5-16), shipped with the package as data."""
from __future__ import annotations

from collections.abc import Iterable
from importlib import resources

import pandas as pd

from persim.reporting.labels import REWARD_TABLES, TRUE_MPC, TRUE_MPC_REFERENCE

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


def with_reference_rows(paper: pd.DataFrame, envs: Iterable[str]) -> pd.DataFrame:
    """``paper`` (one row per published number, with columns ``env`` and ``method`` in the paper's
    spelling, and ``table`` / ``metric`` where present) plus, for each env of ``envs``, a copy of its
    True env + MPC reward cells (Tables 9-11, one per test agent) labelled
    :data:`~persim.reporting.labels.TRUE_MPC_REFERENCE`: that row plans at the reference budget
    (:mod:`persim.reference_budget`), so the paper's True env + MPC is what it is judged against."""
    keep = (paper["method"] == TRUE_MPC) & paper["env"].isin(set(envs))
    if "table" in paper:
        keep &= paper["table"].isin(list(REWARD_TABLES.values()))
    if "metric" in paper:
        keep &= paper["metric"] == "reward"
    rows = paper[keep]
    return pd.concat([paper, rows.assign(method=TRUE_MPC_REFERENCE)], ignore_index=True) if len(rows) else paper
