"""Tables 3 and 12-16: experiments this pipeline does not run yet, rendered with the paper's values.

Table 3 (PerSim-augmented BCQ/CQL), Tables 12-13 (unseen MountainCar agents, data fractions p) and
Tables 14-16 (fewer training agents) need experiments not implemented here. Each is still written
in the paper's shape so a reader sees what is missing: every "ours" cell is "—" (never a value),
the paper's number beside it. When an experiment is implemented, its table moves to a builder fed
by result files, like Tables 6-11.
"""
from __future__ import annotations

import pandas as pd

from persim.reporting.labels import DATASET_LABELS, ENV_LABELS
from persim.reporting.latex import to_booktabs
from persim.reporting.paper import load_paper_tables

PENDING_TABLES: dict[int, str] = {
    12: "MountainCar prediction error on unseen agents, PerSim trained on a share p of the training agents",
    13: "MountainCar average reward on unseen agents, PerSim trained on a share p of the training agents",
    14: "MountainCar average reward with fewer training agents",
    15: "CartPole average reward with fewer training agents",
    16: "HalfCheetah average reward with fewer training agents",
}


def pending_long(table: int, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's cells of ``table`` in long form with an empty ``ours`` column."""
    if table not in PENDING_TABLES:
        raise KeyError(f"table {table} is not a pending table; pending: {sorted(PENDING_TABLES)}")
    paper = load_paper_tables() if paper is None else paper
    ref = paper[paper["table"] == table].rename(columns={"mean": "paper", "std": "paper_std"})
    return ref.assign(ours=float("nan"), ours_std=float("nan")).reset_index(drop=True)


def _paper_cell(cells: pd.DataFrame) -> str:
    vals = {m: (r["paper"], r["paper_std"]) for m, r in zip(cells["metric"], cells.to_dict("records"))}
    if "rmse" in vals:
        r2 = vals.get("r2_median", (float("nan"), None))[0]
        return f"{vals['rmse'][0]:.3f} ({r2:.2f})"
    mean, std = vals["reward"]
    return f"{mean:.1f} ± {0.0 if pd.isna(std) else std:.1f}"


def pending_latex(long: pd.DataFrame, table: int) -> str:
    """Rows env x dataset x training agents x method, columns agents 1-5; cells '— [paper]'."""
    rows = []
    keys = ["env", "dataset", "n_train_agents", "method"]
    for key, sub in long.groupby(keys, sort=False):
        env, ds, n, method = key
        row = {"Env": ENV_LABELS.get(env, env), "Data": DATASET_LABELS.get(ds, ds), "Agents": int(n),
               "Method": method}
        for k in range(1, 6):
            cells = sub[sub["agent"] == k]
            row[f"Agent {k}"] = f"— [{_paper_cell(cells)}]" if len(cells) else "—"
        rows.append(row)
    caption = (f"Table {table}: {PENDING_TABLES[table]}. Not run by this pipeline yet: ours '—', the "
               "paper's value in brackets.")
    return to_booktabs(pd.DataFrame(rows), caption, f"tab:table{table}")
