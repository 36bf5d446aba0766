"""Tables 6-8 (prediction error per env) from per-cell result files, beside the paper's numbers.

Cells are "RMSE (R²)" as in the paper. A method the pipeline has not produced shows "—".
"""
from __future__ import annotations

import pandas as pd

from persim.reporting.labels import DATASET_LABELS, ENV_LABELS, PREDICTION_METHODS, PREDICTION_TABLES
from persim.reporting.latex import rmse_cell, to_booktabs
from persim.reporting.paper import load_paper_tables

METRICS = ("rmse", "r2_median")


def prediction_long(results: pd.DataFrame, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Long form: table, env, dataset, method, agent, metric, ours, paper (one row per paper cell,
    plus any of ours the paper lacks)."""
    paper = load_paper_tables() if paper is None else paper
    ref = paper[paper["table"].isin(PREDICTION_TABLES.values()) & paper["metric"].isin(METRICS)]
    ref = ref[["table", "env", "dataset", "method", "agent", "metric", "mean"]].rename(columns={"mean": "paper"})
    ref = ref.astype({"dataset": str, "method": str})
    ours = results.melt(id_vars=["env", "dataset", "method", "agent"], value_vars=list(METRICS),
                        var_name="metric", value_name="ours")
    ours["agent"] = ours["agent"].astype("Int64")
    ours["table"] = ours["env"].map(PREDICTION_TABLES)
    out = ref.merge(ours, on=["table", "env", "dataset", "method", "agent", "metric"], how="outer")
    return out.sort_values(["table", "dataset", "method", "agent", "metric"]).reset_index(drop=True)


def _cell(sub: pd.DataFrame, column: str) -> str:
    vals = dict(zip(sub["metric"], sub[column]))
    return rmse_cell(vals.get("rmse"), vals.get("r2_median"))  # 3 decimals of R², as Tables 6-8


def prediction_latex(long: pd.DataFrame, env: str, n_agents: int | None = None, note: str = "") -> str:
    """Paper-shaped table for one env: rows dataset x method, columns agents; 'ours [paper]'. ``note``:
    the run's scale, which then stands in the caption instead of ``n_agents``."""
    sub = long[long["env"] == env]
    rows = []
    for ds in DATASET_LABELS:
        for method in PREDICTION_METHODS:
            cells = sub[(sub["dataset"] == ds) & (sub["method"] == method)]
            row = {"Data": DATASET_LABELS[ds], "Method": method}
            for k in range(1, 6):
                c = cells[cells["agent"] == k]
                row[f"Agent {k}"] = f"{_cell(c, 'ours')} [{_cell(c, 'paper')}]"
            rows.append(row)
    table = PREDICTION_TABLES[env]
    scale = f" ({n_agents} training agents)" if n_agents and not note else ""
    caption = (f"Table {table}: {ENV_LABELS[env]} prediction error, RMSE (median R²) over 50-step open-loop "
               f"predictions; ours{scale}, the paper's value in brackets; — = not produced."
               + (f" {note}" if note else ""))
    return to_booktabs(pd.DataFrame(rows), caption, f"tab:table{table}")
