"""A self-contained HTML page of the comparison (for Snakemake's ``--report`` and for browsing)."""
from __future__ import annotations

import html

import pandas as pd

from persim.reporting.authors import AUTHORS_NOTE, stored_cells
from persim.reporting.claims import HOLDS, PARTLY
from persim.reporting.compare import rule_text
from persim.reporting.intervals import MIN_CI_RUNS
from persim.reporting.scope import Scope

STYLE = ("body{font-family:sans-serif;margin:1.5em;max-width:110em} table{border-collapse:collapse;"
         "font-size:90%;margin-bottom:1.5em} td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}"
         " th{background:#eee} .reproduced{background:#d9f2d9} .better{background:#d9e6f2}"
         " .worse{background:#f7d9d9} .missing{color:#999} .holds{background:#d9f2d9}"
         " .fails{background:#f7d9d9} .failed{background:#f7d9d9}")


def _table(frame: pd.DataFrame, verdict_col: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cls = f' class="{html.escape(str(row[verdict_col]))}"' if verdict_col else ""
        cells = "".join(f"<td>{'' if pd.isna(v) else html.escape(_fmt(v))}</td>" for v in row.tolist())
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _scope(scope: Scope) -> list[str]:
    """The section "Scope of this run": the run's scale, each distinct table note once, with its tables,
    and each env note."""
    by_note: dict[str, list[int]] = {}
    for table, note in scope.tables.items():
        by_note.setdefault(note, []).append(table)
    items = ([scope.run] if scope.run else []) + [f"Tables {', '.join(map(str, tables))}: {note}"
                                                  for note, tables in by_note.items()]
    items += list(scope.envs.values())
    if not items:
        return []
    return ["<h2>Scope of this run</h2><ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"]


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def comparison_html(comparison: pd.DataFrame, summary: pd.DataFrame, intervals: pd.DataFrame | None = None,
                    title: str = "Reproduction vs. paper", claims: pd.DataFrame | None = None,
                    policies: pd.DataFrame | None = None, scope: Scope | None = None) -> str:
    """The rules and the run's scope (:mod:`persim.reporting.scope`) first,
    then the summary, the paper's claims (if given), the policies off target, the cells where the
    authors' code stored a result of its own, every compared cell (rows coloured by verdict), and the
    reward intervals."""
    cols = ["table", "env", "dataset", "n_train_agents", "method", "agent", "metric", "ours", "ours_std", "paper",
            "paper_std", "ratio", "difference", "tolerance", "ceiling", "planner_limited", "verdict", "authors_code"]
    have = comparison[comparison["verdict"] != "missing"]
    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style>"
             f"</head><body><h1>{html.escape(title)}</h1>",
             "<p>" + "<br>".join(html.escape(line) for line in rule_text(comparison)) + " Cells the pipeline did not "
             "produce are counted as missing, never filled in.</p>",
             *_scope(scope or Scope()),
             "<h2>Summary</h2>", _table(summary[summary["kind"] != "claim"] if "kind" in summary else summary)]
    if claims is not None:
        parts += ["<h2>The paper's claims</h2><p>Each conclusion judged over the cells it rests on, with the "
                  f"paper's numbers and with ours (holds: in at least {HOLDS:.0%} of the units; partly: "
                  f"{PARTLY:.0%}).</p>",
                  _table(claims, "verdict")]
    if policies is not None and "off_target" in policies and policies["off_target"].any():
        off = policies[policies["off_target"]]
        parts += [f"<h2>Policies off the paper's target ({len(off)} of {len(policies)})</h2><p>Their return misses "
                  "the paper's target by more than 25%: the datasets they logged, or the test rollouts, differ "
                  "from the paper's (HalfCheetah's TD3 cannot reach 3000 on a laptop budget).</p>",
                  _table(off[["env", "policy", "n_steps", "mean_return", "paper_target", "target_gap"]])]
    stored = stored_cells(comparison)
    if len(stored):
        parts += ["<h2>The authors' own stored outputs</h2>", f"<p>{html.escape(AUTHORS_NOTE)}</p>",
                  _table(stored[["table", "env", "dataset", "method", "agent", "metric", "paper", "authors_code",
                                 "ours", "authors_code_vs_paper", "ours_vs_authors_code"]], "ours_vs_authors_code")]
    parts += [f"<h2>Cells with our value ({len(have)} of {len(comparison)})</h2>",
              _table(have[[c for c in cols if c in have.columns]], "verdict")]
    if intervals is not None and len(intervals):
        parts += ["<h2>Reward interval estimates over seeds (IQM, stratified bootstrap 95% CI)</h2><p>std: the "
                  "population std over the seeds (ddof = 0, as the paper's ± std is read). The CIs are left empty "
                  f"for fewer than {MIN_CI_RUNS} seeds (n_runs): a bootstrap over 2 seeds only restates them.</p>",
                  _table(intervals)]
    parts.append("</body></html>")
    return "\n".join(parts)
