"""The paper's conclusions as checkable statements over result cells (the report's claims page).

Each claim is judged on *units* (e.g. one env x dataset x agent), once with the paper's numbers and
once with ours, over the units both have. Verdict on ours: "holds" (in >= 90% of the units),
"holds partly" (>= 50%), "fails" (< 50%), "not run" (no unit has our values: the experiment is
not run here). The paper's own share is printed beside it: a claim the paper's numbers support in
only 80% of the units cannot be asked to hold everywhere in ours.

(i)   PerSim's prediction RMSE is below both CaDM variants' (Tables 6-8; unit env x dataset x agent).
(ii)  Every learned method's reward is at most True env + MPC's (Tables 9-10, MountainCar and
      CartPole; unit env x dataset x method x agent).
(iii) PerSim on random data is close to PerSim on pure data: RMSE within a factor 2, reward within
      10% of |pure| (unit env x agent x metric).
(iv)  The agent factors u determine the covariates: cross-validated R² of a linear regression from u
      to each covariate over held-out agents >= 0.9 (unit env x covariate; the paper shows a t-SNE
      picture only, so it has no share).
(v)   PerSim-BCQ-5 / PerSim-CQL-5 above both BCQ-A and BCQ-P / CQL-A and CQL-P (Table 3; unit env x
      agent x algorithm).
(vi)  PerSim's reward above every baseline's (Vanilla / PE-TS CaDM, BCQ-P) at every number of
      training agents this run trains (Tables 14-16; unit env x N x agent).
(vii) PerSim(p) predicts unseen agents better than both CaDM variants (Table 12, App. F.5; unit
      dataset x p x agent).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from persim.reporting.labels import PREDICTION_TABLES, REWARD_TABLES, SCARCITY_TABLES, TRUE_MPC, is_reference

HOLDS, PARTLY = 0.9, 0.5
R2_THRESHOLD = 0.9
COLUMNS = ["claim", "statement", "n_units", "paper_holds", "ours_holds", "paper_share", "ours_share", "verdict"]
STATEMENTS = {
    "i": "PerSim's prediction RMSE is below both CaDM variants' (Tables 6-8)",
    "ii": "every learned method's reward is at most True env + MPC's (MountainCar, CartPole)",
    "iii": "PerSim on random data is within 2x (RMSE) / 10% (reward) of PerSim on pure data",
    "iv": f"agent factors u predict every covariate (held-out R² >= {R2_THRESHOLD})",
    "v": "PerSim-BCQ-5 / PerSim-CQL-5 beat BCQ/CQL-A and -P (Table 3)",
    "vi": "PerSim's reward beats the baselines' at every number of training agents run (Tables 14-16)",
    "vii": "PerSim(p)'s RMSE on unseen agents is below both CaDM variants' (Table 12)",
}


def _verdict(share: float, n: int) -> str:
    if n == 0 or np.isnan(share):
        return "not run"
    return "holds" if share >= HOLDS else "holds partly" if share >= PARTLY else "fails"


def _row(claim: str, paper: pd.Series | None, ours: pd.Series) -> dict:
    """One claim's row from per-unit booleans (NaN = unit not judgeable on that side)."""
    both = ours.notna() & (paper.notna() if paper is not None else True)
    n = int(both.sum())
    o = ours[both].astype(bool)
    share_o = float(o.mean()) if n else np.nan
    if paper is not None:
        p = paper[both].astype(bool)
        p_holds, share_p = int(p.sum()), (float(p.mean()) if n else np.nan)
    else:
        p_holds, share_p = None, np.nan
    return {"claim": claim, "statement": STATEMENTS[claim], "n_units": n, "paper_holds": p_holds,
            "ours_holds": int(o.sum()), "paper_share": share_p, "ours_share": share_o,
            "verdict": _verdict(share_o, n)}


def _pivot(cells: pd.DataFrame, tables, metric: str, index: list[str], column: str) -> dict[str, pd.DataFrame]:
    sub = cells[cells["table"].isin(list(tables)) & (cells["metric"] == metric)]
    return {side: sub.pivot_table(index=index, columns=column, values=side, aggfunc="first")
            for side in ("ours", "paper")}


def _compare(frame: pd.DataFrame, test) -> pd.Series:
    """``test(frame)`` as a float series, NaN wherever an operand is NaN."""
    out = test(frame).astype(float)
    return out.where(frame.notna().all(axis=1))


def claim_i(cells: pd.DataFrame) -> dict:
    methods = ["PerSim", "Vanilla CaDM", "PE-TS CaDM"]
    piv = _pivot(cells, PREDICTION_TABLES.values(), "rmse", ["env", "dataset", "agent"], "method")
    judge = {side: _compare(p.reindex(columns=methods),
                            lambda f: f["PerSim"] < f[["Vanilla CaDM", "PE-TS CaDM"]].min(axis=1))
             for side, p in piv.items()}
    return _row("i", judge["paper"], judge["ours"])


def claim_ii(cells: pd.DataFrame) -> dict:
    sub = cells[cells["table"].isin([REWARD_TABLES["mountaincar"], REWARD_TABLES["cartpole"]])
                & (cells["metric"] == "reward")]
    true = sub[sub["method"] == TRUE_MPC].set_index(["env", "agent"])
    learned = sub[sub["method"] != TRUE_MPC]
    out = {}
    for side in ("ours", "paper"):
        ref = true[side].reindex(pd.MultiIndex.from_frame(learned[["env", "agent"]])).to_numpy()
        val = learned[side].to_numpy()
        out[side] = pd.Series(np.where(np.isnan(ref) | np.isnan(val), np.nan, val <= ref + 1e-9))
    return _row("ii", out["paper"], out["ours"])


def claim_iii(cells: pd.DataFrame) -> dict:
    parts = {"ours": [], "paper": []}
    persim = cells[cells["method"] == "PerSim"]
    for metric, tables, test in (
            ("rmse", PREDICTION_TABLES.values(), lambda f: f["random"] <= 2 * f["pure"]),
            ("reward", REWARD_TABLES.values(), lambda f: (f["random"] - f["pure"]).abs() <= 0.1 * f["pure"].abs())):
        piv = _pivot(persim, tables, metric, ["env", "agent"], "dataset")
        for side, p in piv.items():
            parts[side].append(_compare(p.reindex(columns=["pure", "random"]), test))
    return _row("iii", pd.concat(parts["paper"], ignore_index=True), pd.concat(parts["ours"], ignore_index=True))


def claim_iv(factor_r2: pd.DataFrame | None) -> dict:
    if factor_r2 is None or factor_r2.empty:
        return _row("iv", None, pd.Series(dtype=float))
    return _row("iv", None, (factor_r2["r2"] >= R2_THRESHOLD).astype(float))


def _beats(cells: pd.DataFrame, tables, metric: str, index: list[str], winner: str, others: list[str],
           lower: bool = False) -> dict[str, pd.Series]:
    """Per side, per unit (``index``): ``winner`` strictly better than every one of ``others``."""
    piv = _pivot(cells, tables, metric, index, "method")
    cols = [winner, *others]

    def test(f):
        return f[winner] < f[others].min(axis=1) if lower else f[winner] > f[others].max(axis=1)
    return {side: _compare(p.reindex(columns=cols), test) for side, p in piv.items()}


def claim_v(cells: pd.DataFrame) -> dict:
    parts = [_beats(cells, [3], "reward", ["env", "agent"], f"PerSim-{a}-5", [f"{a}-A", f"{a}-P"]) for a in ("BCQ", "CQL")]
    return _row("v", pd.concat([p["paper"] for p in parts], ignore_index=True),
                pd.concat([p["ours"] for p in parts], ignore_index=True))


def claim_vi(cells: pd.DataFrame) -> dict:
    judge = _beats(cells, SCARCITY_TABLES, "reward", ["env", "n_train_agents", "agent"], "PerSim",
                   ["Vanilla CaDM", "PE-TS CaDM", "BCQ-P"])
    return _row("vi", judge["paper"], judge["ours"])


def claim_vii(cells: pd.DataFrame) -> dict:
    sub = cells[(cells["table"] == 12) & (cells["metric"] == "rmse")]
    parts = [_beats(sub, [12], "rmse", ["dataset", "agent"], m, ["Vanilla CaDM", "PE-TS CaDM"], lower=True)
             for m in sorted(x for x in sub["method"].unique() if str(x).startswith("PerSim(p="))]
    if not parts:
        return _row("vii", None, pd.Series(dtype=float))
    return _row("vii", pd.concat([p["paper"] for p in parts], ignore_index=True),
                pd.concat([p["ours"] for p in parts], ignore_index=True))


def judge_claims(cells: pd.DataFrame, factor_r2: pd.DataFrame | None = None) -> pd.DataFrame:
    """The claims table (``COLUMNS``) from the comparison cells and the agent-factor regressions. The
    claims rest on the paper's cells: the rows at a reference budget are left out."""
    if "n_train_agents" not in cells:
        cells = cells.assign(n_train_agents=500)
    cells = cells[~is_reference(cells)]
    rows = [claim_i(cells), claim_ii(cells), claim_iii(cells), claim_iv(factor_r2), claim_v(cells), claim_vi(cells),
            claim_vii(cells)]
    return pd.DataFrame(rows, columns=COLUMNS)


def factor_regression_r2(factors: np.ndarray, covariates: pd.DataFrame, n_folds: int = 5,
                         seed: int = 0) -> pd.DataFrame:
    """Cross-validated R² of a least-squares linear map (with intercept) from the agent factors u
    ``[N, r]`` to each covariate column of ``covariates`` (N rows): agents are split into
    ``n_folds`` folds, each predicted by a fit on the others. Columns covariate, r2, n_agents."""
    n = len(factors)
    folds = np.random.default_rng(seed).permutation(n) % n_folds
    x = np.hstack([factors, np.ones((n, 1))])
    rows = []
    for name in covariates.columns:
        y = covariates[name].to_numpy(dtype=float)
        pred = np.empty(n)
        for k in range(n_folds):
            test = folds == k
            coef, *_ = np.linalg.lstsq(x[~test], y[~test], rcond=None)
            pred[test] = x[test] @ coef
        ss_tot = np.square(y - y.mean()).sum()
        rows.append({"covariate": name, "r2": 1 - np.square(y - pred).sum() / ss_tot if ss_tot > 0 else np.nan,
                     "n_agents": n})
    return pd.DataFrame(rows)


def claims_markdown(claims: pd.DataFrame) -> str:
    """The claims page as Markdown: one line per claim with its verdict and the shares behind it."""
    lines = ["## The paper's claims", "",
             f"Each conclusion judged over the cells it rests on: holds where it holds in at least {HOLDS:.0%} of "
             f"its units, holds partly in at least {PARTLY:.0%}, else fails; not run where this run has none.", "",
             "| claim | statement | units | paper: holds in | ours: holds in | verdict |",
             "|---|---|---|---|---|---|"]
    for _, r in claims.iterrows():
        paper = "—" if pd.isna(r["paper_share"]) else f"{r['paper_holds']:.0f}/{r['n_units']} ({r['paper_share']:.0%})"
        ours = "—" if pd.isna(r["ours_share"]) else f"{r['ours_holds']:.0f}/{r['n_units']} ({r['ours_share']:.0%})"
        lines.append(f"| ({r['claim']}) | {r['statement']} | {r['n_units']} | {paper} | {ours} | {r['verdict']} |")
    return "\n".join(lines) + "\n"


def claim_summary_rows(claims: pd.DataFrame) -> pd.DataFrame:
    """Claims as rows of ``comparison_summary.csv``: table ``claim (i)``, kind ``claim``, the units
    judged (``n_compared``), those where it holds in ours (``reproduced``), the share and the verdict."""
    return pd.DataFrame({"table": "claim (" + claims["claim"] + ")", "kind": "claim",
                         "reproduced": claims["ours_holds"], "n_compared": claims["n_units"],
                         "share_reproduced": claims["ours_share"], "claim_verdict": claims["verdict"]})
