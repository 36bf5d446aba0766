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


def with_reference_rows(paper: pd.DataFrame, envs) -> pd.DataFrame:
    """``paper`` plus, for each env of ``envs``, a copy of its True env + MPC reward cells (Tables 9-11)
    under the label of the True env + MPC row at the reference budget: the paper planned at the budget
    that row uses (``evaluation.reward.reference_mpc``), so its cells are the paper's True env + MPC."""
    from persim.reporting.labels import REWARD_TABLES, TRUE_MPC, TRUE_MPC_REFERENCE

    envs = set(envs)
    rows = paper[paper["table"].isin(list(REWARD_TABLES.values())) & (paper["method"] == TRUE_MPC)
                 & paper["env"].isin(envs) & (paper["metric"] == "reward")]
    return pd.concat([paper, rows.assign(method=TRUE_MPC_REFERENCE)], ignore_index=True) if len(rows) else paper
