"""Table 5: observed return of the five test agents and average return/length over all agents.

Long-form rows (one per env x dataset x metric x agent) carry our value beside the paper's.
Trajectory length = number of transitions. The paper's column agrees with that for HalfCheetah
(1000.00) and MountainCar (random: -496.324 return vs 496.344 length), but its CartPole lengths
are the returns plus one (states counted); we do not copy that inconsistency.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from persim.data.schema import OfflineDataset
from persim.reporting.labels import DATASET_LABELS, ENV_LABELS
from persim.reporting.latex import to_booktabs
from persim.reporting.paper import load_paper_tables

METRICS = ("observed_return", "mean_observed_return_all_agents", "mean_trajectory_length_all_agents")


def dataset_rows(ds: OfflineDataset, behaviour: str, test_agent_ids: dict[int, int]) -> list[dict]:
    """Table 5 cells of one dataset; ``test_agent_ids`` maps paper agent number (1-5) -> agent id."""
    returns, lengths = ds.returns(), ds.lengths()
    rows = [
        {"env": ds.env, "dataset": behaviour, "agent": k, "metric": "observed_return",
         "ours": float(returns.get(aid, np.nan))}
        for k, aid in sorted(test_agent_ids.items())
    ]
    rows.append({"env": ds.env, "dataset": behaviour, "agent": pd.NA, "metric": "mean_observed_return_all_agents",
                 "ours": float(returns.mean())})
    rows.append({"env": ds.env, "dataset": behaviour, "agent": pd.NA, "metric": "mean_trajectory_length_all_agents",
                 "ours": float(lengths.mean())})
    return rows


def build_table5(rows: list[dict], n_agents: int, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Long-form Table 5 with columns env, dataset, agent, metric, n_agents, ours, paper, diff."""
    ours = pd.DataFrame(rows)
    ours["agent"] = ours["agent"].astype("Int64")
    paper = load_paper_tables() if paper is None else paper
    ref = paper[paper["table"] == 5][["env", "dataset", "agent", "metric", "mean"]].rename(columns={"mean": "paper"})
    ref["dataset"] = ref["dataset"].astype(str)
    out = ours.merge(ref, on=["env", "dataset", "agent", "metric"], how="left")
    out.insert(4, "n_agents", n_agents)
    out["diff"] = out["ours"] - out["paper"]
    return out


def table5_latex(table: pd.DataFrame, note: str = "") -> str:
    """Paper-shaped Table 5; each cell 'ours (paper)'; ``note``: the run's policy training where it
    differs from the paper profile (appended to the caption)."""
    def cell(sub: pd.DataFrame, metric: str, agent=None) -> str:
        sel = sub[sub["metric"] == metric]
        if agent is not None:
            sel = sel[sel["agent"] == agent]
        if sel.empty:
            return "—"
        r = sel.iloc[0]
        paper = "—" if pd.isna(r["paper"]) else f"{r['paper']:.1f}"
        return f"{r['ours']:.1f} ({paper})"

    wide = []
    for (env, ds), sub in table.groupby(["env", "dataset"], sort=False):
        row = {"Environment": ENV_LABELS.get(env, env), "Data": DATASET_LABELS.get(ds, ds)}
        for k in range(1, 6):
            row[f"Agent {k}"] = cell(sub, "observed_return", k)
        row["Average return"] = cell(sub, "mean_observed_return_all_agents")
        row["Average length"] = cell(sub, "mean_trajectory_length_all_agents")
        wide.append(row)
    n = int(table["n_agents"].iloc[0]) if len(table) else 0
    caption = (f"Observed return and trajectory length of the offline datasets, ours ({n} agents) with the "
               "paper's value (500 agents) in parentheses. Length = transitions per trajectory."
               + (f" {note}" if note else ""))
    return to_booktabs(pd.DataFrame(wide), caption, "tab:table5")
