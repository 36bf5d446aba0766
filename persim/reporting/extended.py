"""Tables 3 and 12-16 (the paper's extended experiments) from result files, beside the paper's numbers.

One long frame per table, keyed like the paper's CSV: ``table, env, dataset, n_train_agents, method,
agent, metric`` with ``ours, ours_std, paper, paper_std`` (and ``n_trials`` for Tables 14-16). Our cells
come from the per-cell result files the evaluations write (``reward`` / ``reward_std``; ``rmse`` /
``r2_median``); Tables 14-16 first average each trial's cell and then take mean ± std ACROSS trials
(the paper's definition). :func:`compare_extended` judges the cells with the rules of
:mod:`persim.reporting.compare`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from persim.reporting.labels import DATASET_LABELS, ENV_LABELS
from persim.reporting.latex import reward_cell, rmse_cell, to_booktabs
from persim.reporting.paper import load_paper_tables
from persim.reporting.verdicts import COLUMNS, RMSE_DECIMALS, reward_verdicts, rmse_ratio, rmse_verdicts

EXTENDED_TABLES: dict[int, str] = {
    3: "BCQ / CQL with PerSim's synthetic trajectories (PerSim-BCQ-5 / -CQL-5), reward",
    12: "MountainCar prediction error on unseen agents; PerSim(p): factor map fitted on a share p of the training agents",
    13: "MountainCar reward on unseen agents; PerSim(p): factor map fitted on a share p of the training agents",
    14: "MountainCar reward with fewer training agents N (mean ± std across trials)",
    15: "CartPole reward with fewer training agents N (mean ± std across trials)",
    16: "HalfCheetah reward with fewer training agents N (mean ± std across trials)",
}
KEY = ["table", "env", "dataset", "n_train_agents", "method", "agent", "metric"]


def cells_from_results(results: pd.DataFrame, table: int, n_train_agents: int) -> pd.DataFrame:
    """Per-cell result rows (reward or prediction files) as long cells of ``table``."""
    base = results[["env", "dataset", "method", "agent"]].assign(table=table, n_train_agents=n_train_agents)
    if "reward" in results:
        parts = [base.assign(metric="reward", ours=results["reward"], ours_std=results.get("reward_std"))]
    else:
        parts = [base.assign(metric="rmse", ours=results["rmse"], ours_std=results.get("rmse_std", np.nan)),
                 base.assign(metric="r2_median", ours=results["r2_median"], ours_std=np.nan)]
    out = pd.concat(parts, ignore_index=True)
    out["dataset"] = out["dataset"].fillna("").astype(str)
    out["failed"] = pd.to_numeric(out["ours"], errors="coerce").isna()  # a result row without a value
    return out[KEY + ["ours", "ours_std", "failed"]]


def across_trials(cells: pd.DataFrame) -> pd.DataFrame:
    """Tables 14-16: cells with a ``trial`` column -> mean and std (ddof 0) of the trials' values; a cell
    of one trial has no std (NaN, printed without ±), not a std of 0."""
    grouped = cells.groupby(KEY, sort=False)
    out = grouped["ours"].agg(ours="mean", ours_std=lambda x: float(np.std(x)) if len(x) > 1 else np.nan,
                              n_trials="size").reset_index()
    out["failed"] = grouped["ours"].apply(lambda x: bool(x.isna().any())).to_numpy()
    out.loc[out["failed"], ["ours", "ours_std"]] = np.nan  # a failed trial leaves the cell empty
    return out


def extended_long(ours: pd.DataFrame, table: int, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our cells of ``table`` beside the paper's (outer join: a paper cell we lack keeps ours NaN)."""
    paper = load_paper_tables() if paper is None else paper
    ref = paper[paper["table"] == table].rename(columns={"mean": "paper", "std": "paper_std"})
    ref = ref.assign(dataset=ref["dataset"].fillna("").astype(str), method=ref["method"].astype(str))
    ref = ref[KEY + ["paper", "paper_std"]]
    ours = ours.assign(table=table)
    for frame in (ref, ours):
        frame["agent"] = frame["agent"].astype("Int64")
        frame["n_train_agents"] = frame["n_train_agents"].astype("Int64")
    out = ref.merge(ours, on=KEY, how="outer")
    out["failed"] = out["failed"].astype("boolean").fillna(False).astype(bool) if "failed" in out else False
    return out.sort_values(["env", "dataset", "n_train_agents", "method", "agent", "metric"],
                           ascending=[True, True, False, True, True, True], kind="stable").reset_index(drop=True)


def with_unrun_tables(long: pd.DataFrame, paper: pd.DataFrame | None = None) -> pd.DataFrame:
    """``long`` (extended tables' cells) plus the paper's cells of every extended table it lacks, ours
    empty: e.g. Tables 15-16 of a run without CartPole and HalfCheetah then read "missing", as Tables 7-8
    and 10-11 of such a run do, instead of dropping out of the comparison."""
    tables = pd.to_numeric(long["table"], errors="coerce") if len(long) else pd.Series(dtype=float)
    present = set(tables.dropna().astype(int))
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in KEY + ["ours", "ours_std", "failed"]})
    added = [extended_long(empty, t, paper) for t in EXTENDED_TABLES if t not in present]
    return pd.concat([long, *added], ignore_index=True) if added else long


def _fmt(cells: pd.DataFrame, which: str) -> str:
    vals = {m: (r[which], r[f"{which}_std"]) for m, r in zip(cells["metric"], cells.to_dict("records"))}
    if "rmse" in vals:
        return rmse_cell(vals["rmse"][0], vals.get("r2_median", (np.nan, None))[0], r2_decimals=2)  # as Table 12
    return reward_cell(*vals.get("reward", (np.nan, np.nan)))


def extended_latex(long: pd.DataFrame, table: int, scale_note: str = "") -> str:
    """Rows env x dataset x N x method, columns agents 1-5; cells 'ours [paper]'."""
    rows = []
    for (env, ds, n, method), sub in long.groupby(["env", "dataset", "n_train_agents", "method"], sort=False):
        row = {"Env": ENV_LABELS.get(env, env), "Data": DATASET_LABELS.get(ds, ds or "—"), "N": n, "Method": method}
        for k in range(1, 6):
            cells = sub[sub["agent"] == k]
            row[f"Agent {k}"] = f"{_fmt(cells, 'ours')} [{_fmt(cells, 'paper')}]" if len(cells) else "—"
        rows.append(row)
    caption = (f"Table {table}: {EXTENDED_TABLES[table]}. Ours, the paper's value in brackets; — = not run."
               + (f" {scale_note}" if scale_note else ""))
    return to_booktabs(pd.DataFrame(rows), caption, f"tab:table{table}")


def compare_extended(long: pd.DataFrame, rmse_decimals: int | None = RMSE_DECIMALS) -> pd.DataFrame:
    """Verdict rows (``persim.reporting.verdicts.COLUMNS`` plus ``n_train_agents``) for extended cells;
    ``rmse_decimals`` as in :func:`persim.reporting.verdicts.rmse_verdicts`."""
    frames = []
    rew = long[long["metric"] == "reward"].copy()
    if len(rew):
        rew["verdict"], rew["tolerance"] = reward_verdicts(rew["ours"], rew["paper"], rew["paper_std"])
        rew["difference"], rew["ratio"], rew["ours_r2"], rew["paper_r2"] = rew["ours"] - rew["paper"], np.nan, np.nan, np.nan
        frames.append(rew)
    pred = long[long["metric"] == "rmse"].copy()
    if len(pred):
        r2 = long[long["metric"] == "r2_median"].set_index(KEY[:-1])
        idx = pd.MultiIndex.from_frame(pred[KEY[:-1]])
        pred["ours_r2"] = r2["ours"].reindex(idx).to_numpy()
        pred["paper_r2"] = r2["paper"].reindex(idx).to_numpy()
        pred["verdict"] = rmse_verdicts(pred["ours"], pred["paper"], rmse_decimals)
        pred["ratio"] = rmse_ratio(pred["ours"], pred["paper"])
        pred["difference"], pred["tolerance"] = np.nan, np.nan
        frames.append(pred)
    if not frames:
        return pd.DataFrame(columns=COLUMNS + ["n_train_agents"])
    out = pd.concat(frames, ignore_index=True)
    for col in ("ours", "ours_std", "paper", "paper_std"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    failed = out["failed"].to_numpy(bool) & out["ours"].isna().to_numpy() if "failed" in out else False
    out.loc[failed, "verdict"] = "failed"
    return out[COLUMNS + ["n_train_agents"]]
