"""Tables 9-11 (reward per env) from per-cell result files, beside the paper's numbers.

Cells are "mean ± std" over seeds as in the paper; methods not produced show "—".
"""
from __future__ import annotations

import pandas as pd

from persim.reporting.labels import (DATASET_LABELS, ENV_LABELS, REFERENCE_NOTE, REWARD_METHODS, REWARD_TABLES,
                                     TRUE_MPC, is_reference, reference_label)
from persim.reporting.latex import reward_cell, to_booktabs
from persim.reporting.paper import load_paper_tables, with_reference_rows


def reward_long(results: pd.DataFrame, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Long form: table, env, dataset ('' for True env+MPC), method, agent, ours, ours_std, paper, paper_std.

    A row at the reference budget (e.g. "PerSim (reference budget)", in ``results`` for some envs) is
    set beside the paper's cells of its method."""
    paper = load_paper_tables() if paper is None else paper
    paper = with_reference_rows(paper, results.loc[is_reference(results), ["env", "method"]])
    ref = paper[paper["table"].isin(REWARD_TABLES.values()) & (paper["metric"] == "reward")]
    ref = ref[["table", "env", "dataset", "method", "agent", "mean", "std"]].rename(
        columns={"mean": "paper", "std": "paper_std"})
    ref = ref.astype({"method": str}).assign(dataset=ref["dataset"].fillna("").astype(str))
    ours = results.rename(columns={"reward": "ours", "reward_std": "ours_std"})
    ours = ours[["env", "dataset", "method", "agent", "ours", "ours_std"]].copy()
    ours["dataset"] = ours["dataset"].fillna("").astype(str)
    ours["agent"] = ours["agent"].astype("Int64")
    ours["table"] = ours["env"].map(REWARD_TABLES)
    out = ref.merge(ours, on=["table", "env", "dataset", "method", "agent"], how="outer")
    return out.sort_values(["table", "dataset", "method", "agent"]).reset_index(drop=True)


def reward_latex(long: pd.DataFrame, env: str, n_agents: int | None = None, note: str = "") -> str:
    """Paper-shaped table: rows dataset x method plus True env+MPC, each followed (where run) by its row
    at the reference budget; cells 'ours [paper]'. ``note``: the run's scale, which then stands in the
    caption instead of ``n_agents``."""
    sub = long[long["env"] == env]
    rows = []
    present = set(zip(sub["dataset"], sub["method"]))
    reference = is_reference(sub).any()
    blocks = []
    for ds, method in [(ds, m) for ds in DATASET_LABELS for m in REWARD_METHODS] + [("", TRUE_MPC)]:
        blocks += [(ds, method)] + ([(ds, reference_label(method))] if (ds, reference_label(method)) in present else [])
    for ds, method in blocks:
        cells = sub[(sub["dataset"] == ds) & (sub["method"] == method)]
        row = {"Data": DATASET_LABELS.get(ds, "—"), "Method": method}
        for k in range(1, 6):
            c = cells[cells["agent"] == k]
            o = reward_cell(c["ours"].iloc[0], c["ours_std"].iloc[0]) if len(c) else "—"
            p = reward_cell(c["paper"].iloc[0], c["paper_std"].iloc[0]) if len(c) else "—"
            row[f"Agent {k}"] = f"{o} [{p}]"
        rows.append(row)
    table = REWARD_TABLES[env]
    scale = f" ({n_agents} training agents)" if n_agents and not note else ""
    caption = (f"Table {table}: {ENV_LABELS[env]} reward, mean ± std over seeds; ours{scale}, the paper's value "
               "in brackets; — = not produced." + (f" {REFERENCE_NOTE}" if reference else "")
               + (f" {note}" if note else ""))
    return to_booktabs(pd.DataFrame(rows), caption, f"tab:table{table}")
