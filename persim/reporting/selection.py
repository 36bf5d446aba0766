"""Tables 1 and 2 of the paper: its selection of three test agents per env from Tables 6-11.

The paper's main-text tables repeat appendix cells (with rounding slips, see the paper data README),
so both are built here from the same long frames as Tables 6-11, with the appendix values as the
paper's reference. Agents are the paper's column headers matched to Table 4's test agents.
"""
from __future__ import annotations

import pandas as pd

from persim.reporting.labels import (DATASET_LABELS, ENV_LABELS, PREDICTION_METHODS, REWARD_METHODS, TRUE_MPC,
                                     is_reference)
from persim.reporting.latex import reward_cell, rmse_cell, to_booktabs

# Table 1/2 headers: MountainCar gravity x100 0.01/0.025/0.035 -> agents 1, 4, 5; CartPole
# (force/length) (2/0.5), (10/0.85), (10/0.15) -> 1, 4, 5; HalfCheetah (mass/damping) (0.3/1.7),
# (1.7/0.3), (0.3/0.3) -> 1, 2, 3.
SELECTED_AGENTS: dict[str, tuple[int, ...]] = {"mountaincar": (1, 4, 5), "cartpole": (1, 4, 5),
                                               "halfcheetah": (1, 2, 3)}


def select(long: pd.DataFrame, table: int) -> pd.DataFrame:
    """Rows of a Tables 6-11 long frame that Table ``table`` (1 or 2) shows, relabelled ``table`` (the
    paper's rows only: not the rows at a reference budget)."""
    long = long[~is_reference(long)].assign(dataset=long["dataset"].fillna("").astype(str))
    keep = pd.Series(False, index=long.index)
    for env, agents in SELECTED_AGENTS.items():
        keep |= (long["env"] == env) & long["agent"].isin(agents)
    return long[keep].assign(table=table).reset_index(drop=True)


def _columns() -> list[tuple[str, int]]:
    return [(env, k) for env, agents in SELECTED_AGENTS.items() for k in agents]


def _header(env: str, k: int) -> str:
    return f"{ENV_LABELS[env]} {k}"


def table1_latex(long: pd.DataFrame, n_agents: int | None = None, note: str = "") -> str:
    """Table 1: RMSE (median R²), ours [paper], datasets x {PerSim, CaDM variants} x 9 agents; ``note``:
    the run's scale, which then stands in the caption instead of ``n_agents``."""
    def cell(sub: pd.DataFrame, col: str) -> str:
        vals = dict(zip(sub["metric"], sub[col]))
        return rmse_cell(vals.get("rmse"), vals.get("r2_median"), r2_decimals=2)  # as the paper's Table 1

    rows = []
    for ds in DATASET_LABELS:
        for method in PREDICTION_METHODS:
            row = {"Data": DATASET_LABELS[ds], "Method": method}
            for env, k in _columns():
                sub = long[(long["env"] == env) & (long["dataset"] == ds) & (long["method"] == method)
                           & (long["agent"] == k)]
                row[_header(env, k)] = f"{cell(sub, 'ours')} [{cell(sub, 'paper')}]"
            rows.append(row)
    scale = f" ({n_agents} training agents)" if n_agents and not note else ""
    caption = (f"Table 1: prediction error, RMSE (median R²); ours{scale}, the paper's appendix value in "
               "brackets; agents as in the paper's Table 1; — = not produced." + (f" {note}" if note else ""))
    return to_booktabs(pd.DataFrame(rows), caption, "tab:table1")


def table2_latex(long: pd.DataFrame, n_agents: int | None = None, note: str = "") -> str:
    """Table 2: average reward mean ± std, ours [paper], datasets x methods (+ True env+MPC) x 9 agents;
    ``note``: the run's scale, which then stands in the caption instead of ``n_agents``."""
    def cell(sub: pd.DataFrame, mean: str, std: str) -> str:
        return "—" if sub.empty else reward_cell(sub[mean].iloc[0], sub[std].iloc[0])

    long = long.assign(dataset=long["dataset"].fillna("").astype(str))
    rows = []
    for ds, method in [(ds, m) for ds in DATASET_LABELS for m in REWARD_METHODS] + [("", TRUE_MPC)]:
        row = {"Data": DATASET_LABELS.get(ds, "—"), "Method": method}
        for env, k in _columns():
            sub = long[(long["env"] == env) & (long["dataset"] == ds) & (long["method"] == method)
                       & (long["agent"] == k)]
            row[_header(env, k)] = f"{cell(sub, 'ours', 'ours_std')} [{cell(sub, 'paper', 'paper_std')}]"
        rows.append(row)
    scale = f" ({n_agents} training agents)" if n_agents and not note else ""
    caption = (f"Table 2: average reward, mean ± std over seeds; ours{scale}, the paper's appendix value in "
               "brackets; agents as in the paper's Table 2; — = not produced." + (f" {note}" if note else ""))
    return to_booktabs(pd.DataFrame(rows), caption, "tab:table2")
