"""Cell-by-cell comparison of our results with the paper's Tables 1-3 and 6-16, with verdicts.

One row per (table, env, dataset, method, agent) cell (Tables 14-16 also per number of training agents):
``table, env, dataset, method, agent, metric, ours, ours_std, paper, paper_std, ratio, difference,
tolerance, ours_r2, paper_r2, verdict, n_train_agents, ceiling, planner_limited``. The extended tables'
cells (3, 12-16) come from their long tables (:mod:`persim.reporting.extended`) and are judged by the
same rules. ``ceiling``: for a simulator's MPC reward cell, this run's True env + MPC for that agent
at the same planner budget (:func:`add_ceiling`); ``planner_limited``: the cell is "worse", so is its
ceiling, and the cell reaches that ceiling (:func:`planner_limited`), i.e. the reduced planner budget,
not the simulator, decides it.
Cells where the authors' released code stored a result of its own carry it as a second reference
(``authors_code``, ``authors_code_vs_paper``, ``ours_vs_authors_code``: :mod:`persim.reporting.authors`).

Verdict rules
-------------
The rules are :mod:`persim.reporting.verdicts`'s: a reward is "reproduced" within ``max(2 x the paper's
std, 1)``, an RMSE within a factor 2 of the paper's printed
value's rounding interval (``rmse_decimals=None``: of the value itself); otherwise "better" or "worse".

* A cell the paper has and we do not: "missing" (ours stays NaN; nothing is invented). A cell whose
  result file exists but holds no finite value (e.g. no rollout could be scored): "failed". A cell
  we have and the paper does not: "no paper value".

Tables 1 and 2 of the main text repeat a selection of the appendix cells (with rounding slips, see the
paper data README), so they are rebuilt here from Tables 6-8 / 9-11 for the agents they show:
MountainCar and CartPole agents 1, 4, 5; HalfCheetah agents 1, 2, 3. Table 3's BCQ / CQL -P / -A rows
repeat Tables 9-11's `random` cells (the same numbers in the paper, the same result files here).
``summarize`` counts both per table, but its "overall" row leaves them out, so no cell is counted twice.
"""
from __future__ import annotations

import logging
import re
from typing import Iterable

import numpy as np
import pandas as pd

from persim.methods import METHOD_LABELS
from persim.reporting.authors import (
    ADDED_COLUMNS,
    AUTHORS_VS_PAPER,
    OURS_VS_AUTHORS,
    add_authors_code,
    authors_markdown,
    stored_cells,
)
from persim.reporting.extended import compare_extended, with_unrun_tables
from persim.reporting.labels import (
    AUGMENTATION_TABLE,
    DATASET_LABELS,
    ENV_LABELS,
    MAIN_TABLE,
    PREDICTION_METHODS,
    PREDICTION_TABLES,
    REWARD_METHODS,
    REWARD_TABLES,
    REFERENCE_NOTE,
    TRUE_MPC,
    TRUE_MPC_REFERENCE,
    base_label,
    is_reference,
    reference_label,
)
from persim.reporting.latex import reward_cell, rmse_cell
from persim.reporting.markdown import pipe_table
from persim.reporting.paper import load_paper_tables, with_reference_rows
from persim.reporting.scope import Scope
from persim.reporting.selection import SELECTED_AGENTS
from persim.reporting.verdicts import (
    COLUMNS,
    COMPARED,
    REWARD_FLOOR,
    REWARD_STD_FACTOR,
    RMSE_DECIMALS,
    RMSE_FACTOR,
    VERDICTS,
    reward_verdicts,
    reward_verdicts_within,
    rmse_ratio,
    rmse_verdicts,
)

log = logging.getLogger("persim")

MAIN_TABLE_AGENTS = SELECTED_AGENTS  # the agents Tables 1-2 show (persim.reporting.selection)
TABLE_ORDER = (1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
N_TRAIN_AGENTS = 500

DATASET_LABELS = {**DATASET_LABELS, "": "—"}  # "" = no dataset (True env+MPC)
METHODS = tuple(label for m in (*REWARD_METHODS, TRUE_MPC) for label in (m, reference_label(m)))  # row order
REFERENCE_SUMMARY = "reference budget"  # the summary row of the rows planned at the reference budget
DATASETS = ("pure", "random", "pure_eps20", "pure_eps40", "")

KEY = ["env", "dataset", "method", "agent"]
ALL_COLUMNS = [*COLUMNS, "n_train_agents", "ceiling", "planner_limited", *ADDED_COLUMNS]
UNSEEN_TABLE = 13  # other agents than the five test agents: no True env + MPC of ours for them


# ----------------------------------------------------------------------------------------------- labels
def _key(text) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


_METHOD_ALIASES = {_key(m): m for m in METHODS} | {_key(name): label for name, label in METHOD_LABELS.items()} | {
    "petscadm": "PE-TS CaDM", "truempc": TRUE_MPC, "trueenv": TRUE_MPC, "truemodelmpc": TRUE_MPC,
}
_DATASET_ALIASES = {
    "pure": "pure", "random": "random",
    **{k: "pure_eps20" for k in ("pureeps20", "pureepsilon20", "pureeps02", "pureeps020", "pureepsilon02")},
    **{k: "pure_eps40" for k in ("pureeps40", "pureepsilon40", "pureeps04", "pureeps040", "pureepsilon04")},
    **{k: "" for k in ("", "nan", "none", "na", "truempc", "trueenv", "trueenvmpc")},
}


def normalize_method(label) -> str:
    """Paper method label for ``label`` (a registry name, "MOREL-A", "true_mpc" ...); unknown labels
    are returned unchanged (their cells become "no paper value") with a warning."""
    out = _METHOD_ALIASES.get(_key(label))
    if out is None:
        log.warning("compare: unknown method label %r kept as is", label)
        return str(label)
    return out


def normalize_dataset(label) -> str:
    """Paper dataset name: pure, random, pure_eps20, pure_eps40, or "" (no data: True env+MPC).
    Accepts "Pure-eps-20", "pure-eps-20", "pure_eps_0.2", NaN ... Unknown names are kept with a warning."""
    if label is None or (not isinstance(label, str) and pd.isna(label)):
        return ""
    out = _DATASET_ALIASES.get(_key(label))
    if out is None:
        log.warning("compare: unknown dataset label %r kept as is", label)
        return str(label)
    return out


def normalize_env(label) -> str:
    """mountaincar / cartpole / halfcheetah from e.g. "MountainCar-v0", "HalfCheetah"; else ValueError."""
    key = re.sub(r"v\d+$", "", _key(label))
    if key not in ENV_LABELS:
        raise ValueError(f"compare: unknown env {label!r}; known: {sorted(ENV_LABELS)}")
    return key


def _normalize_keys(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = [c for c in KEY if c not in frame.columns]
    if missing:
        raise ValueError(f"compare: {what} frame lacks columns {missing} (has {list(frame.columns)})")
    out = frame.copy()
    out["env"] = [normalize_env(v) for v in out["env"]]
    out["dataset"] = [normalize_dataset(v) for v in out["dataset"]]
    out["method"] = [normalize_method(v) for v in out["method"]]
    agent = pd.to_numeric(out["agent"], errors="coerce")
    if agent.isna().any() or (agent != agent.round()).any():
        raise ValueError(f"compare: {what} frame has non-integer agents {sorted(set(out['agent'][agent.isna()]))}")
    out["agent"] = agent.astype("Int64")
    return out


def _unique(frame: pd.DataFrame, what: str, keep_last: bool = False) -> pd.DataFrame:
    dup = frame.duplicated(KEY, keep=False)
    if dup.any():
        cells = frame.loc[dup, KEY].drop_duplicates().head(3).to_dict("records")
        if not keep_last:
            raise ValueError(f"compare: {what} has duplicate cells, e.g. {cells}")
        log.warning("compare: %s has duplicate cells (kept the last), e.g. %s", what, cells)
        frame = frame.drop_duplicates(KEY, keep="last")
    return frame


# ------------------------------------------------------------------------------------------ our frames
def ours_prediction(frame: pd.DataFrame) -> pd.DataFrame:
    """Our prediction cells as ``env, dataset, method, agent, ours, ours_std, ours_r2``.

    Accepts the per-cell results (columns ``rmse``, ``r2_median`` [, ``rmse_std``]) or the long table
    ``tables/prediction_long.csv`` (columns ``metric``, ``ours``)."""
    if {"metric", "ours"} <= set(frame.columns):
        f = frame[frame["ours"].notna()]
        f = f.pivot_table(index=KEY, columns="metric", values="ours", aggfunc="last", dropna=False).reset_index()
        f = f.rename_axis(columns=None)
    elif "rmse" in frame.columns:
        f = frame
    else:
        raise ValueError("compare: prediction frame needs columns rmse [, r2_median, rmse_std] "
                         f"or metric/ours; has {list(frame.columns)}")
    out = pd.DataFrame({k: f[k] for k in KEY})
    out["ours"] = pd.to_numeric(f["rmse"], errors="coerce") if "rmse" in f else np.nan
    out["ours_std"] = pd.to_numeric(f["rmse_std"], errors="coerce") if "rmse_std" in f else np.nan
    out["ours_r2"] = pd.to_numeric(f["r2_median"], errors="coerce") if "r2_median" in f else np.nan
    return _our_cells(out, per_cell="rmse" in f, what="prediction")


def ours_reward(frame: pd.DataFrame) -> pd.DataFrame:
    """Our reward cells as ``env, dataset, method, agent, ours, ours_std``.

    Accepts the per-cell results (``reward``, ``reward_std``) or ``tables/reward_long.csv``
    (``ours``, ``ours_std``)."""
    if "reward" in frame.columns:
        mean_col, std_col = "reward", "reward_std"
    elif "ours" in frame.columns:
        mean_col, std_col = "ours", "ours_std"
    else:
        raise ValueError(f"compare: reward frame needs reward[/reward_std] or ours[/ours_std]; "
                         f"has {list(frame.columns)}")
    out = pd.DataFrame({k: frame[k] for k in KEY})
    out["ours"] = pd.to_numeric(frame[mean_col], errors="coerce")
    out["ours_std"] = pd.to_numeric(frame[std_col], errors="coerce") if std_col in frame else np.nan
    return _our_cells(out, per_cell=mean_col == "reward", what="reward")


def _our_cells(out: pd.DataFrame, per_cell: bool, what: str) -> pd.DataFrame:
    """Normalised, unique cells with a ``failed`` flag: a per-cell result file's row without a finite
    value failed; in a long table (``ours`` column) NaN only marks a cell not run, and is dropped."""
    out = _normalize_keys(out, what)
    out["failed"] = out["ours"].isna() if per_cell else False
    if not per_cell:
        out = out.dropna(subset=["ours"])
    return _unique(out, f"our {what} results")


# ------------------------------------------------------------------------------------------ paper frame
def paper_prediction(paper: pd.DataFrame) -> pd.DataFrame:
    """Paper Tables 6-8 as ``env, dataset, method, agent, paper, paper_std, paper_r2``."""
    p = _paper_rows(paper, PREDICTION_TABLES.values(), ("rmse", "r2_median"))
    rmse = _unique(p[p["metric"] == "rmse"], "paper RMSE", keep_last=True)
    r2 = _unique(p[p["metric"] == "r2_median"], "paper R²", keep_last=True)
    out = rmse[KEY + ["mean"]].rename(columns={"mean": "paper"})
    out["paper_std"] = np.nan  # the paper gives no spread for prediction
    return out.merge(r2[KEY + ["mean"]].rename(columns={"mean": "paper_r2"}), on=KEY, how="left")


def paper_reward(paper: pd.DataFrame) -> pd.DataFrame:
    """Paper Tables 9-11 as ``env, dataset, method, agent, paper, paper_std``."""
    p = _unique(_paper_rows(paper, REWARD_TABLES.values(), ("reward",)), "paper rewards", keep_last=True)
    return p[KEY + ["mean", "std"]].rename(columns={"mean": "paper", "std": "paper_std"})


def _paper_rows(paper: pd.DataFrame, tables: Iterable[int], metrics: tuple[str, ...]) -> pd.DataFrame:
    p = paper[paper["table"].isin(list(tables)) & paper["metric"].isin(metrics) & paper["agent"].notna()]
    if "n_train_agents" in p.columns:
        p = p[p["n_train_agents"].fillna(N_TRAIN_AGENTS) == N_TRAIN_AGENTS]
    p = _normalize_keys(p, "paper")
    p["mean"] = pd.to_numeric(p["mean"], errors="coerce")
    p["std"] = pd.to_numeric(p["std"], errors="coerce")
    return p.dropna(subset=["mean"])


# -------------------------------------------------------------------------------------------- compare
def compare(
    prediction: pd.DataFrame | None = None, reward: pd.DataFrame | None = None, paper: pd.DataFrame | None = None,
    main_tables: bool = True, rmse_decimals: int | None = RMSE_DECIMALS, extended: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per paper cell of Tables 6-11 (plus our cells the paper lacks), and, with
    ``main_tables``, the Table 1-2 selections of them. ``prediction``/``reward`` may be None (all
    such cells then read "missing"). ``extended``: the long tables of Tables 3 and 12-16
    (:func:`persim.reporting.extended.extended_long`), judged alike; a table it lacks (an env not run)
    adds the paper's cells as "missing". Columns: see ``ALL_COLUMNS``."""
    paper = load_paper_tables() if paper is None else paper
    empty_p = pd.DataFrame(columns=KEY + ["ours", "ours_std", "ours_r2"])
    pred = _merge(ours_prediction(prediction) if prediction is not None else empty_p, paper_prediction(paper))
    pred["table"], pred["metric"] = pred["env"].map(PREDICTION_TABLES), "rmse"
    pred["ratio"] = rmse_ratio(pred["ours"], pred["paper"])
    pred["difference"], pred["tolerance"] = np.nan, np.nan
    pred["verdict"] = _failed(rmse_verdicts(pred["ours"], pred["paper"], rmse_decimals), pred)

    ours_r = ours_reward(reward) if reward is not None else pd.DataFrame(columns=KEY + ["ours", "ours_std"])
    # a row at the reference budget is judged against the paper's cells of its method
    reference = ours_r.loc[is_reference(ours_r), ["env", "method"]]
    rew = _merge(ours_r, with_reference_rows(paper_reward(paper), reference))
    rew["table"], rew["metric"] = rew["env"].map(REWARD_TABLES), "reward"
    rew["ratio"], rew["difference"] = np.nan, rew["ours"] - rew["paper"]
    rew["ours_r2"], rew["paper_r2"] = np.nan, np.nan
    rew["verdict"], rew["tolerance"] = reward_verdicts(rew["ours"], rew["paper"], rew["paper_std"])
    rew["verdict"] = _failed(rew["verdict"].to_numpy(), rew)

    out = pd.concat([pred[COLUMNS], rew[COLUMNS]], ignore_index=True).assign(n_train_agents=N_TRAIN_AGENTS)
    if main_tables:
        out = pd.concat([main_table_rows(out), out], ignore_index=True)
    if extended is not None:  # every extended table's paper cells, "missing" where the run lacks them
        out = pd.concat([out, compare_extended(with_unrun_tables(extended, paper), rmse_decimals)], ignore_index=True)
    return _sort(add_authors_code(add_ceiling(out)))


def add_ceiling(cells: pd.DataFrame) -> pd.DataFrame:
    """``cells`` with column ``ceiling``: for every reward cell of a method that plans with MPC on a
    simulator, this run's True env + MPC for the same env and test agent, at the same planner budget
    (what a perfect simulator would score here): True env+MPC (reference budget) for a simulator's row
    at the reference budget; NaN elsewhere, and for the unseen agents of Table 13."""
    out = cells.copy()
    main = out["table"].isin(REWARD_TABLES.values()) & (out["metric"] == "reward")
    ceilings = {label: out[main & (out["method"] == label)].dropna(subset=["ours"]).drop_duplicates(["env", "agent"])
                .set_index(["env", "agent"])["ours"] for label in (TRUE_MPC, TRUE_MPC_REFERENCE)}
    planned = (out["method"].map(base_label).isin(PREDICTION_METHODS) & (out["metric"] == "reward")  # the simulators
               & (out["table"] != UNSEEN_TABLE)).to_numpy()
    ceiling_of = np.where(is_reference(out), TRUE_MPC_REFERENCE, TRUE_MPC)
    keys = list(zip(out["env"], out["agent"]))
    out["ceiling"] = [float(ceilings[c].get(k, np.nan)) if p else np.nan for k, p, c in zip(keys, planned, ceiling_of)]
    out["planner_limited"] = planner_limited(out)
    return out


def planner_limited(cells: pd.DataFrame) -> np.ndarray:
    """Bool ``[n]``: the cell is "worse", its ceiling (this run's True env + MPC for that env and agent,
    at the same planner budget: what a perfect simulator scores here) lies below the paper's value of
    the cell by more than the cell's tolerance, and the cell itself reached that ceiling (it is not
    below the ceiling by more than the same tolerance). Then no simulator could have reproduced the
    cell at this run's budget and this one did as well as a perfect one: the planner budget decides
    it, not the model. A cell well below a failing ceiling lost to the model as well: not marked.
    A worse True env + MPC cell is planner-limited by definition (no model is involved).
    Needs columns ``method, metric, verdict, ours, paper, tolerance, ceiling`` (False where any is absent)."""
    if not {"method", "metric", "verdict", "ours", "paper", "tolerance", "ceiling"} <= set(cells.columns):
        return np.zeros(len(cells), dtype=bool)
    ours, ceiling, paper, tol = (pd.to_numeric(cells[c], errors="coerce").to_numpy(float)
                                 for c in ("ours", "ceiling", "paper", "tolerance"))
    below = reward_verdicts_within(ceiling, paper, tol) == "worse"  # the ceiling judged like the cell
    at_ceiling = reward_verdicts_within(ours, ceiling, tol) != "worse"  # the simulator lost nothing to it
    worse = cells["verdict"].to_numpy() == "worse"
    true_env = (cells["method"] == TRUE_MPC).to_numpy() & (cells["metric"] == "reward").to_numpy()
    return worse & ((below & at_ceiling) | true_env)  # True env + MPC worse: the planner on the true dynamics itself


def planner_limited_flags(cells: pd.DataFrame) -> np.ndarray:
    """The ``planner_limited`` column of ``cells`` as bool ``[n]``; recomputed (:func:`planner_limited`)
    for cells without it, e.g. a ``comparison.csv`` written before the column existed."""
    if "planner_limited" in cells:
        return cells["planner_limited"].fillna(False).astype(bool).to_numpy()
    return planner_limited(cells)


def _failed(verdict: np.ndarray, cells: pd.DataFrame) -> np.ndarray:
    """``verdict`` with "failed" where our result row exists but holds no finite value."""
    verdict = np.asarray(verdict, dtype=object).copy()
    failed = cells["failed"].fillna(False).astype(bool).to_numpy() if "failed" in cells else np.zeros(len(verdict), bool)
    verdict[failed & cells["ours"].isna().to_numpy()] = "failed"
    return verdict


def _merge(ours: pd.DataFrame, ref: pd.DataFrame) -> pd.DataFrame:
    ours = ours.astype({"agent": "Int64"})
    out = ref.astype({"agent": "Int64"}).merge(ours, on=KEY, how="outer")
    for col in ("ours", "ours_std", "ours_r2", "paper", "paper_std", "paper_r2"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float) if col in out else np.nan
    return out


def main_table_rows(comparison: pd.DataFrame) -> pd.DataFrame:
    """The cells of Tables 1 (prediction) and 2 (reward): appendix rows for the agents the main text shows
    (the paper's cells only: not the True env + MPC row at a reference budget)."""
    paper_cells = split_reference(comparison)[0]
    appendix = paper_cells[paper_cells["table"].isin([*PREDICTION_TABLES.values(), *REWARD_TABLES.values()])]
    shown = np.array([a in MAIN_TABLE_AGENTS[e] for e, a in zip(appendix["env"], appendix["agent"])], dtype=bool)
    rows = appendix[shown].copy()
    rows["table"] = np.where(rows["metric"] == "rmse", MAIN_TABLE["prediction"], MAIN_TABLE["reward"])
    return rows


def _sort(frame: pd.DataFrame) -> pd.DataFrame:
    ds = {d: i for i, d in enumerate(DATASETS)}
    me = {m: i for i, m in enumerate(METHODS)}
    env = {e: i for i, e in enumerate(ENV_LABELS)}
    order = pd.DataFrame({"t": frame["table"].astype(int), "e": frame["env"].map(env),
                          "d": frame["dataset"].map(ds).fillna(len(ds)),
                          "n": -frame["n_train_agents"].fillna(N_TRAIN_AGENTS).astype(int),
                          "m": frame["method"].map(me).fillna(len(me)), "a": frame["agent"].astype(int)})
    idx = order.sort_values(["t", "e", "d", "n", "m", "a"], kind="stable").index
    out = frame.loc[idx].reset_index(drop=True)
    out["table"] = out["table"].astype(int)
    return out


# -------------------------------------------------------------------------------------------- summary
def summarize(comparison: pd.DataFrame, claims: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per table, plus an "overall" row over Tables 3 and 6-16 that counts each paper cell once
    (:func:`overall_cells`: without Tables 1-2, which repeat cells of 6-11, and
    Table 3's BCQ / CQL -P / -A rows, which repeat Tables 9-11's `random` cells):
    ``table, kind, <count per verdict>, n_cells, n_ours, n_compared, share_reproduced`` where
    ``n_compared`` counts cells with both our and the paper's value and ``share_reproduced`` is
    reproduced / n_compared (NaN when nothing was compared). The cells of a True env + MPC row at
    the reference budget judge the paper's True env + MPC cells a second time: they have their own
    row (``REFERENCE_SUMMARY``) after "overall" and count in no other. Where the authors' code stored
    results of its own (:mod:`persim.reporting.authors`), two rows follow: their values judged against
    the paper (``AUTHORS_VS_PAPER``) and ours judged against theirs (``OURS_VS_AUTHORS``). With ``claims``
    (:func:`persim.reporting.claims.judge_claims`) one row per claim follows (kind ``claim``)."""
    paper_cells, reference = split_reference(comparison)
    rows = []
    for table in [t for t in TABLE_ORDER if t in set(paper_cells["table"])]:
        sub = paper_cells[paper_cells["table"] == table]
        rows.append(_counts(sub, str(table), _kind(sub)))
    rows.append(_counts(overall_cells(paper_cells), "overall", "all"))
    appendix = paper_cells[~paper_cells["table"].isin(MAIN_TABLE.values())]
    if len(reference):
        rows.append(_counts(reference, REFERENCE_SUMMARY, "reward"))
    stored = stored_cells(appendix)
    if len(stored):
        rows.append(_counts(stored.assign(ours=stored["authors_code"], verdict=stored["authors_code_vs_paper"],
                                          planner_limited=False), AUTHORS_VS_PAPER, _kind(stored)))
        rows.append(_counts(stored.assign(verdict=stored["ours_vs_authors_code"], planner_limited=False),
                            OURS_VS_AUTHORS, _kind(stored)))
    out = pd.DataFrame(rows)
    if claims is not None:
        from persim.reporting.claims import claim_summary_rows

        out = pd.concat([out, claim_summary_rows(claims)], ignore_index=True)
    counts = [*VERDICTS, "worse_planner_limited", "n_cells", "n_ours", "n_compared"]
    return out.astype({c: "Int64" for c in counts if c in out})  # whole numbers, blank on claim rows


def split_reference(cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``cells`` as (the paper's cells, the cells of the True env + MPC row at the reference budget),
    which judge the paper's True env + MPC cells a second time and so count apart."""
    reference = is_reference(cells)
    return cells[~reference], cells[reference]



CELL_KEY = ["env", "dataset", "method", "agent"]


def overall_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The rows of a comparison (:func:`compare`) that the "overall" count holds:
    every paper cell once. Left out: Tables 1-2 (a selection of Tables 6-11's cells) and the rows of
    Table 3 whose env, dataset, method and agent are also a cell of Tables 9-11 (its BCQ-P / -A and CQL-P /
    -A rows: the paper prints the same numbers in both tables, and ours come from the same result files).
    ``table`` may be int or str (a comparison read back from CSV)."""
    table = cells["table"].astype(str)
    key = pd.MultiIndex.from_frame(cells[CELL_KEY].astype(str))
    in_reward_tables = table.isin({str(t) for t in REWARD_TABLES.values()}).to_numpy()
    repeat = (table == str(AUGMENTATION_TABLE)).to_numpy() & key.isin(key[in_reward_tables])
    main = table.isin({str(t) for t in MAIN_TABLE.values()}).to_numpy()
    return cells[~main & ~repeat]


def _kind(sub: pd.DataFrame) -> str:
    kinds = set(sub["metric"])
    return "prediction" if kinds == {"rmse"} else "reward" if kinds == {"reward"} else "all"


def _counts(sub: pd.DataFrame, table: str, kind: str) -> dict:
    counts = sub["verdict"].value_counts()
    row = {"table": table, "kind": kind, **{v: int(counts.get(v, 0)) for v in VERDICTS}}
    n_compared = sum(row[v] for v in COMPARED)
    row["worse_planner_limited"] = int(planner_limited_flags(sub).sum())
    row |= {"n_cells": len(sub), "n_ours": int(sub["ours"].notna().sum()), "n_compared": n_compared,
            "share_reproduced": row["reproduced"] / n_compared if n_compared else np.nan}
    return row


# ------------------------------------------------------------------------------------------- markdown
MARKS = {"reproduced": "✓", "better": "▲", "worse": "▼", "missing": "", "failed": "✗", "no paper value": "?"}
PLANNER_LIMITED_MARK = "▽"  # worse, and so is this run's True env + MPC at the same planner budget


def _fmt_share(x) -> str:
    return "—" if pd.isna(x) else f"{100 * x:.1f}%"


def _cell(row: pd.Series) -> str:
    if row["metric"] == "rmse":
        ours, paper = rmse_cell(row["ours"], row["ours_r2"]), rmse_cell(row["paper"], row["paper_r2"])
    else:
        ours, paper = reward_cell(row["ours"], row["ours_std"]), reward_cell(row["paper"], row["paper_std"])
    limited = row.get("planner_limited", False)
    mark = PLANNER_LIMITED_MARK if pd.notna(limited) and bool(limited) else MARKS[row["verdict"]]
    return f"{ours} [{paper}] {mark}".rstrip()


def _summary_markdown(summary: pd.DataFrame) -> str:
    headers = ["Table", "Kind", *VERDICTS, "worse, planner-limited", "cells", "ours", "compared", "share reproduced"]
    count = lambda x: "—" if pd.isna(x) else str(int(x))  # noqa: E731 - claim rows make the columns float
    rows = [[r["table"], r["kind"], *[count(r[v]) for v in VERDICTS], count(r.get("worse_planner_limited", 0)),
             count(r["n_cells"]), count(r["n_ours"]), count(r["n_compared"]), _fmt_share(r["share_reproduced"])]
            for _, r in summary.iterrows()]
    return pipe_table(headers, rows)


def _env_section(sub: pd.DataFrame, env: str, note: str = "") -> list[str]:
    agents = sorted(int(a) for a in sub["agent"].unique())
    headers = ["Data", "Method", *[f"Agent {a}" for a in agents]]
    rows, absent = [], {}
    several_n = sub["n_train_agents"].nunique() > 1 if "n_train_agents" in sub else False
    for (ds, n, method), g in sub.groupby(["dataset", sub.get("n_train_agents", pd.Series(0, sub.index)), "method"],
                                          sort=False):
        label = f"{method} (N={int(n)})" if several_n else method
        if g["ours"].isna().all():
            absent.setdefault(label, []).append(ds)
            continue
        by_agent = {int(r["agent"]): _cell(r) for _, r in g.iterrows()}
        rows.append([DATASET_LABELS.get(ds, ds), label, *[by_agent.get(a, "—") for a in agents]])
    lines = [f"### {ENV_LABELS[env]}", "", *([note, ""] if note else [])]
    lines += [pipe_table(headers, rows), ""] if rows else ["No cells produced.", ""]
    lines += _ceiling_lines(sub)
    if absent:
        lines += ["Not produced (all cells missing): " + "; ".join(
            _absent_label(sub, m, dss) for m, dss in absent.items()) + ".", ""]
    return lines


def _ceiling_lines(sub: pd.DataFrame) -> list[str]:
    """The ceilings of an env's MPC rows: this run's True env + MPC per agent, at the run's budget and
    (where run) at the reference budget."""
    if "ceiling" not in sub:
        return []
    lines = []
    for reference, budget in ((False, "this run's planner budget"), (True, "the reference budget")):
        rows = sub[is_reference(sub) == reference].dropna(subset=["ceiling"]).drop_duplicates("agent")
        if len(rows):
            lines += [f"Ceiling of the MPC rows at {budget} (this run's True env + MPC there): "
                      + ", ".join(f"agent {int(r['agent'])} {r['ceiling']:.1f}"
                                  for _, r in rows.sort_values("agent").iterrows()) + ".", ""]
    return lines


def _absent_label(sub: pd.DataFrame, method: str, datasets: list[str]) -> str:
    if set(datasets) == set(sub.loc[sub["method"] == method, "dataset"]) and len(datasets) > 1:
        return f"{method} (all datasets)"
    named = [DATASET_LABELS.get(d, d) for d in datasets if d]
    return method + (f" ({', '.join(named)})" if named else "")


TABLE_TITLES = {1: "Table 1: prediction error (main text; agents as in the paper)",
                2: "Table 2: average reward (main text; agents as in the paper)",
                6: "Table 6: MountainCar prediction error", 7: "Table 7: CartPole prediction error",
                8: "Table 8: HalfCheetah prediction error", 9: "Table 9: MountainCar reward",
                10: "Table 10: CartPole reward", 11: "Table 11: HalfCheetah reward",
                3: "Table 3: BCQ / CQL with PerSim's synthetic trajectories (reward)",
                12: "Table 12: MountainCar prediction error, unseen agents",
                13: "Table 13: MountainCar reward, unseen agents",
                14: "Table 14: MountainCar reward, fewer training agents (mean ± std across trials)",
                15: "Table 15: CartPole reward, fewer training agents (mean ± std across trials)",
                16: "Table 16: HalfCheetah reward, fewer training agents (mean ± std across trials)"}


def rule_text(comparison: pd.DataFrame, mark: str = "planner_limited:") -> list[str]:
    """The verdict rules, one sentence a line, as the Markdown and the HTML report state them; ``mark``
    names the planner-limited flag (▽ in the Markdown, the column in the HTML)."""
    return [f"{mark} worse, planner-limited: an MPC cell below the paper where this run's own True env + MPC "
            "(a perfect simulator at the same planner budget: column ceiling of comparison.csv and the HTML) "
            "is below the paper's value by more than the tolerance too, and the cell reaches that ceiling "
            "within the tolerance: the budget decides the cell, not the simulator (counted as worse). A cell well "
            "below its ceiling is plain worse.",
            f"Rewards: reproduced if |ours − paper| ≤ tolerance = max({REWARD_STD_FACTOR:g} × paper std, "
            f"{REWARD_FLOOR:g}) (column tolerance of comparison.csv and the HTML; the floor of "
            f"{REWARD_FLOOR:g} reward unit keeps a printed ± 0.0 from asking for an exact match), else better "
            "(above) or worse. RMSE (lower is better): "
            f"reproduced if within a factor {RMSE_FACTOR:g} of the paper's printed value, taken over that value's "
            f"rounding interval (± {0.5 * 10.0 ** -RMSE_DECIMALS:g}), better below it, worse above; median R² "
            "shown, not judged.",
            "Share reproduced = reproduced / cells with both values. 'overall' counts each paper cell once: "
            "Tables 3 and 6-16, without Tables 1-2 (a selection of Tables 6-11's cells) and without Table 3's "
            "BCQ / CQL -P / -A rows (Tables 9-11's random cells again).",
            "n_train_agents is the paper's number of training agents of the cell (the row of the paper's table it "
            "is compared with); this run's own number is in the title (Tables 14-16: the same N).",
            *([f"{REFERENCE_NOTE} Their cells count in the summary row '{REFERENCE_SUMMARY}' only."]
              if is_reference(comparison).any() else [])]


def to_markdown(comparison: pd.DataFrame, summary: pd.DataFrame | None = None,
                title: str = "Reproduction vs. paper", scope: Scope | None = None) -> str:
    """Markdown report: verdict rules, the run's scale, the summary table, then one section per table and
    env with cells ``ours [paper] mark`` (RMSE (median R²) to 3 decimals; reward mean ± std to 1
    decimal); ``scope`` (:mod:`persim.reporting.scope`): the run's scale after the rules, a table's
    note under its title, an env's note in each of that env's sections."""
    scope = scope or Scope()
    table_notes, env_notes = scope.tables, scope.envs
    summary = summarize(comparison) if summary is None else summary
    if "kind" in summary:  # claim rows have their own page (persim.reporting.claims)
        summary = summary[summary["kind"] != "claim"]
    lines = [f"# {title}", "",
             "Cells: ours [paper] verdict. ✓ reproduced, ▲ better, ▼ worse, ? no paper value, — not produced.",
             *rule_text(comparison, PLANNER_LIMITED_MARK), "", *([scope.run, ""] if scope.run else []),
             "## Summary", "", _summary_markdown(summary), "", *authors_markdown(comparison)]
    for table in [t for t in TABLE_ORDER if t in set(comparison["table"])]:
        sub = comparison[comparison["table"] == table]
        lines += [f"## {TABLE_TITLES.get(table, f'Table {table}')}", "",
                  *([table_notes[table], ""] if table in table_notes else [])]
        for env in [e for e in ENV_LABELS if e in set(sub["env"])]:
            lines += _env_section(sub[sub["env"] == env], env, env_notes.get(env, ""))
    return "\n".join(lines).rstrip() + "\n"


def load_results(paths: Iterable[str]) -> pd.DataFrame:
    """Concatenate per-cell result CSVs (prediction.csv or reward.csv files) as the table rules read them."""
    frames = [pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in paths]
    if not frames:
        raise ValueError("load_results: no paths given")
    return pd.concat(frames, ignore_index=True)
