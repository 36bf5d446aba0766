"""The authors' own stored outputs as a second reference beside the paper's cells.

The authors' released code (AbdullahO/PerSim) stores a few results of its own: the prediction test
and one MPC episode per agent of one simulator on MountainCar ``random`` and one on CartPole ``pure``
data (``persim/reporting/data/authors_outputs.csv``, see its PROVENANCE.md). Where they and the paper
disagree, a cell of ours that misses the paper may still sit where the authors' own code lands: this
module tells the two apart, cell by cell.

:func:`add_authors_code` gives every matching comparison cell (Tables 6, 7, 9, 10 and their
reference-budget rows) three columns: ``authors_code`` (their stored value), ``authors_code_vs_paper``
(their value judged against the paper's cell) and ``ours_vs_authors_code`` (ours judged against
theirs). The rules are the comparison's (:mod:`persim.reporting.compare`), with two differences that
their form asks for: their RMSE is unrounded, so the literal factor-2 band applies; a stored reward is
one episode without a spread, so the cell's own tolerance (from the paper's std) is used.
"""
from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from persim.reporting.labels import DATASET_LABELS, ENV_LABELS, base_label
from persim.reporting.markdown import pipe_table
from persim.reporting.verdicts import reward_verdicts_within, rmse_verdicts

AUTHORS_COLUMNS = ["table", "env", "dataset", "method", "agent", "metric", "value", "r2_median", "n_episodes",
                   "source"]
ADDED_COLUMNS = ["authors_code", "authors_code_vs_paper", "ours_vs_authors_code"]
AUTHORS_VS_PAPER = "authors' code vs paper"  # summary rows (persim.reporting.compare.summarize)
OURS_VS_AUTHORS = "ours vs authors' code"
_MATCH = ["table", "env", "dataset", "method", "agent", "metric"]


def authors_outputs_path() -> str:
    return str(resources.files("persim.reporting") / "data" / "authors_outputs.csv")


def load_authors_outputs(path: str | None = None) -> pd.DataFrame:
    """The stored outputs, one row per cell (columns ``AUTHORS_COLUMNS``); ValueError naming the file
    and the problem for missing columns, non-numeric values or a cell given twice."""
    path = path or authors_outputs_path()
    frame = pd.read_csv(path, dtype={"dataset": "string", "method": "string", "source": "string"})
    missing = [c for c in AUTHORS_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    for col in ("table", "agent", "value"):
        bad = pd.to_numeric(frame[col], errors="coerce").isna()
        if bad.any():
            raise ValueError(f"{path}: column {col!r} is not numeric in row(s) {list(frame.index[bad] + 2)}")
    dup = frame.duplicated(_MATCH, keep=False)
    if dup.any():
        raise ValueError(f"{path}: cells given twice: {frame.loc[dup, _MATCH].drop_duplicates().to_dict('records')}")
    return frame.astype({"table": int, "agent": int, "value": float})


def add_authors_code(cells: pd.DataFrame, authors: pd.DataFrame | None = None) -> pd.DataFrame:
    """``cells`` (a comparison frame) with ``ADDED_COLUMNS``; NaN / empty where the authors stored nothing.
    A row at the reference budget gets the value of its method's cell."""
    authors = load_authors_outputs() if authors is None else authors
    key = cells[_MATCH].assign(method=cells["method"].map(base_label), dataset=cells["dataset"].fillna("").astype(str),
                               table=cells["table"].astype(int), agent=cells["agent"].astype("Int64"))
    theirs = authors[_MATCH + ["value"]].astype({"dataset": str, "agent": "Int64"})
    value = key.merge(theirs, on=_MATCH, how="left")["value"]
    out = cells.copy()
    out["authors_code"] = value.to_numpy(float)
    theirs, ours, paper = out["authors_code"].to_numpy(float), out["ours"].to_numpy(float), out["paper"].to_numpy(float)
    tol = pd.to_numeric(out["tolerance"], errors="coerce").to_numpy(float)
    rmse, reward = (out["metric"] == "rmse").to_numpy(), (out["metric"] == "reward").to_numpy()
    vs_paper = np.full(len(out), None, dtype=object)
    vs_theirs = np.full(len(out), None, dtype=object)
    vs_paper[rmse] = rmse_verdicts(theirs[rmse], paper[rmse])
    vs_theirs[rmse] = rmse_verdicts(ours[rmse], theirs[rmse], decimals=None)
    vs_paper[reward] = reward_verdicts_within(theirs[reward], paper[reward], tol[reward])
    vs_theirs[reward] = reward_verdicts_within(ours[reward], theirs[reward], tol[reward])
    stored = ~np.isnan(theirs)
    out["authors_code_vs_paper"] = np.where(stored, vs_paper, None)
    out["ours_vs_authors_code"] = np.where(stored, vs_theirs, None)
    return out


def stored_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The comparison cells with a stored value of the authors (empty if ``cells`` has no such column)."""
    if "authors_code" not in cells:
        return cells.iloc[0:0]
    return cells[cells["authors_code"].notna()]


AUTHORS_NOTE = ("The authors' released code stores a few results of its own (AbdullahO/PerSim: one rank-3 PerSim "
                "simulator on MountainCar Random and one on CartPole Pure data; prediction over 200 test "
                "trajectories per agent, MPC one episode per agent). They are a second reference: where their "
                "own value misses the paper's cell, a cell of ours that misses it too may sit where the authors' "
                "code lands. Their RMSE is judged with the literal factor-2 rule (it is unrounded), a reward with "
                "the cell's tolerance (one episode has no spread of its own).")


def authors_markdown(cells: pd.DataFrame) -> list[str]:
    """Markdown lines of a section listing every cell with a stored value of the authors (none: [])."""
    stored = stored_cells(cells)
    if not len(stored):
        return []
    fmt = lambda v, metric: "—" if pd.isna(v) else (f"{v:.4f}" if metric == "rmse" else f"{v:.1f}")  # noqa: E731
    rows = [[str(int(r["table"])), ENV_LABELS.get(r["env"], r["env"]), DATASET_LABELS.get(r["dataset"], r["dataset"] or "—"),
             r["method"], str(int(r["agent"])), fmt(r["paper"], r["metric"]), fmt(r["authors_code"], r["metric"]),
             fmt(r["ours"], r["metric"]), str(r["authors_code_vs_paper"]), str(r["ours_vs_authors_code"])]
            for _, r in stored.iterrows()]
    headers = ["Table", "Env", "Data", "Method", "Agent", "paper", "authors' code", "ours",
               "authors' code vs paper", "ours vs authors' code"]
    return ["## The authors' own stored outputs", "", AUTHORS_NOTE, "",
            pipe_table(headers, rows, align=["l"] * 5 + ["r"] * 5), ""]
