"""Two runs' comparisons with the paper side by side: per table, before and after.

    python -m persim.reporting.diff results/quick_before results/quick
    python -m persim.reporting.diff OLD NEW --tables 6 7 9 10 --methods PerSim "True env+MPC" --cells

OLD and NEW are runs' outdirs (their ``report/comparison.csv`` is read) or ``comparison.csv`` files
(:func:`persim.reporting.compare.compare`). A cell is one paper cell: table, env, dataset, method,
test agent, metric and number of training agents. Printed: per table, the cells compared in each
run and how many were reproduced, better and worse (:data:`~persim.reporting.compare.COMPARED`);
then the same counts over the cells selected by ``--tables`` / ``--methods`` (e.g. the PerSim and
True env + MPC cells of Tables 6, 7, 9, 10); with ``--cells``, every selected cell whose verdict
changed, with both runs' values beside the paper's. Tables 1-2 repeat cells of Tables 6-11 and are
left out of the overall row, as in ``comparison_summary.csv``; so are the cells of the rows planned at a
reference budget (their own row, ``reference budget``, and out of the focus unless
``--methods`` names such a row, e.g. "PerSim (reference budget)").
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from persim.reporting.compare import (COMPARED, REFERENCE_SUMMARY, normalize_method, overall_cells,
                                      planner_limited_flags, split_reference)
from persim.reporting.labels import is_reference

CELL = ["table", "env", "dataset", "method", "agent", "metric", "n_train_agents"]
NEEDED = [*CELL[:-1], "ours", "paper", "verdict"]
GOOD = ("reproduced", "better")


def load_comparison(path: str | Path) -> pd.DataFrame:
    """The cells of a comparison: ``path`` is a ``comparison.csv`` or a run's outdir holding
    ``report/comparison.csv``. Raises ``FileNotFoundError`` / ``ValueError`` naming the file."""
    path = Path(path)
    file = path / "report" / "comparison.csv" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no comparison here (run the pipeline's `comparison` rule, or pass "
                                "a run's outdir or its report/comparison.csv)")
    frame = _read_csv(file)
    missing = [c for c in NEEDED if c not in frame.columns]
    if missing:
        raise ValueError(f"{file}: not a comparison.csv, it lacks columns {missing}")
    if "n_train_agents" not in frame:
        frame["n_train_agents"] = np.nan
    frame["table"] = frame["table"].astype(str)
    frame["dataset"] = frame["dataset"].fillna("")
    frame["n_train_agents"] = pd.to_numeric(frame["n_train_agents"], errors="coerce").fillna(-1).astype(int)
    return frame.drop_duplicates(CELL, keep="last")


def _read_csv(file: Path) -> pd.DataFrame:
    """``file`` read as CSV; ValueError naming it and what is expected if it is no text table (a Parquet
    or other binary file, an empty file, malformed rows)."""
    try:
        return pd.read_csv(file)
    except UnicodeDecodeError:
        reason = "not a text file (a Parquet or other binary file?)"
    except pd.errors.EmptyDataError:
        reason = "the file is empty"
    except pd.errors.ParserError as err:
        reason = f"not readable as CSV ({str(err).strip()})"
    raise ValueError(f"{file}: {reason}; expected a run's comparison.csv (its report/comparison.csv, "
                     "written by the pipeline's `comparison` rule), or the run's outdir")


def check_focus(cells: pd.DataFrame, tables: Sequence[str] | None, methods: Sequence[str] | None) -> None:
    """ValueError naming the ``tables`` / ``methods`` (any spelling :func:`select` accepts) that no cell
    of ``cells`` (both runs' together) has, with those it has: a focus on them would compare nothing."""
    for option, wanted, column, key in (("--tables", tables, "table", str),
                                        ("--methods", methods, "method", _quiet_label)):
        have = set(cells[column])
        missing = [w for w in wanted or () if key(w) not in have]
        if missing:
            raise ValueError(f"{option} {missing}: in neither comparison; they have {_sorted(have)}")


def _quiet_label(method: str) -> str:
    """:func:`normalize_method` without its warning on an unknown label (:func:`check_focus` names it as
    the error)."""
    log = logging.getLogger("persim")  # persim.reporting.compare's logger
    drop = lambda record: False  # noqa: E731
    log.addFilter(drop)
    try:
        return normalize_method(method)
    finally:
        log.removeFilter(drop)


def _sorted(values: set[str]) -> list[str]:
    """Table numbers in numeric order, then other labels."""
    return sorted(values, key=lambda t: (not str(t).isdigit(), int(t) if str(t).isdigit() else 0, str(t)))


def select(cells: pd.DataFrame, tables: Sequence[str] | None = None,
           methods: Sequence[str] | None = None) -> pd.DataFrame:
    """The cells of ``tables`` (table numbers) and ``methods`` (the paper's labels, or any spelling the
    comparison accepts, e.g. ``persim`` for ``PerSim``); None keeps all. The cells of a row at the
    reference budget (e.g. "PerSim (reference budget)") judge the paper's cells of their method a second
    time: kept only where ``methods`` names that row."""
    keep = np.ones(len(cells), dtype=bool)
    if tables:
        keep &= cells["table"].isin([str(t) for t in tables]).to_numpy()
    wanted = {normalize_method(m) for m in methods or ()}
    if methods:
        keep &= cells["method"].isin(wanted).to_numpy()
    if not methods:
        keep &= ~is_reference(cells)
    return cells[keep]


def counts(cells: pd.DataFrame) -> dict[str, float]:
    """``compared``, each verdict of :data:`COMPARED`, ``good`` (reproduced or better) and ``share``
    (reproduced / compared) of ``cells``."""
    v = cells["verdict"]
    out: dict[str, float] = {k: int((v == k).sum()) for k in COMPARED}
    out["compared"] = sum(out[k] for k in COMPARED)
    out["good"] = sum(out[k] for k in GOOD)
    out["share"] = out["reproduced"] / out["compared"] if out["compared"] else np.nan
    out["planner_limited"] = int(planner_limited_flags(cells).sum())
    return out


def per_table(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """One row per table of either run, then ``overall`` (each paper cell once:
    :func:`persim.reporting.compare.overall_cells`): each count of
    :func:`counts` for both runs (columns ``<count>_old``, ``<count>_new``)."""
    (old, old_ref), (new, new_ref) = split_reference(old), split_reference(new)
    tables = _sorted(set(old["table"]) | set(new["table"]))
    pairs = []
    for table in [*tables, "overall"]:
        pick = overall_cells if table == "overall" else (lambda f, t=table: f[f["table"] == t])
        pairs.append((table, pick(old), pick(new)))
    if len(old_ref) or len(new_ref):  # rows at the reference budget judge the paper's cells again
        pairs.append((REFERENCE_SUMMARY, old_ref, new_ref))
    rows = []
    for table, a, b in pairs:
        a, b = counts(a), counts(b)
        rows.append({"table": table, **{f"{k}_old": a[k] for k in a}, **{f"{k}_new": b[k] for k in b}})
    return pd.DataFrame(rows)


def changed_cells(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Cells present in both runs whose verdict differs: key, ``paper``, ``ours_old``, ``ours_new``,
    ``verdict_old``, ``verdict_new``."""
    both = old[CELL + ["paper", "ours", "verdict"]].merge(new[CELL + ["ours", "verdict"]], on=CELL,
                                                          suffixes=("_old", "_new"))
    return both[both["verdict_old"] != both["verdict_new"]].reset_index(drop=True)


def _arrow(row: pd.Series, k: str) -> str:
    return f"{int(row[f'{k}_old']):4d} -> {int(row[f'{k}_new']):4d}"


def _share(x: float) -> str:
    return "  n/a" if pd.isna(x) else f"{100 * x:5.1f}%"


def format_table(rows: pd.DataFrame) -> str:
    """Fixed-width text of :func:`per_table`'s rows."""
    head = f"{'table':<16} {'compared':>14} {'reproduced':>14} {'share':>16} {'better':>14} {'worse':>14} {'repr. or better':>16}"
    lines = [head]
    for _, r in rows.iterrows():
        lines.append(f"{r['table']:<16} {_arrow(r, 'compared'):>14} {_arrow(r, 'reproduced'):>14} "
                     f"{_share(r['share_old'])} -> {_share(r['share_new'])} {_arrow(r, 'better'):>14} "
                     f"{_arrow(r, 'worse'):>14} {_arrow(r, 'good'):>16}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m persim.reporting.diff", description=__doc__.split("\n\n")[0])
    ap.add_argument("old", help="the earlier run's outdir or comparison.csv")
    ap.add_argument("new", help="the later run's outdir or comparison.csv")
    ap.add_argument("--tables", nargs="+", help="the focus: these tables only (e.g. 6 7 9 10)")
    ap.add_argument("--methods", nargs="+", help='the focus: these methods only (e.g. PerSim "True env+MPC")')
    ap.add_argument("--cells", action="store_true", help="list the focus cells whose verdict changed")
    args = ap.parse_args(argv)
    try:
        old, new = load_comparison(args.old), load_comparison(args.new)
        check_focus(pd.concat([old, new]), args.tables, args.methods)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{args.old} -> {args.new}: paper cells per table (reproduced / better / worse: "
          "persim.reporting.compare's verdicts)")
    print(format_table(per_table(old, new)))
    fo, fn = select(old, args.tables, args.methods), select(new, args.tables, args.methods)
    if args.tables or args.methods:
        a, b = counts(fo), counts(fn)
        print(f"\nfocus (tables {args.tables or 'all'}, methods {args.methods or 'all'}): reproduced or better "
              f"{a['good']} / {a['compared']} -> {b['good']} / {b['compared']} compared; worse {a['worse']} -> "
              f"{b['worse']}, of them planner-limited (this run's True env + MPC misses the cell too) "
              f"{a['planner_limited']} -> {b['planner_limited']}")
    if args.cells:
        diff = changed_cells(fo, fn)
        print(f"\n{len(diff)} cells changed verdict:")
        if len(diff):
            print(diff.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
