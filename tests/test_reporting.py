"""Interval estimates (IQM, stratified bootstrap) and the paper-vs-reproduction comparison."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persim.reporting import compare as cmp
from persim.reporting.intervals import (
    interval_table, iqm, iqm_score, mean_score, seed_runs, stratified_bootstrap_ci,
)
from persim.reporting.paper import load_paper_tables


# ------------------------------------------------------------------------------------------ intervals
def test_iqm_known_arrays():
    assert iqm(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(2.5)
    assert iqm(np.array([0, 0, 1, 1, 1, 1, 100, 100])) == pytest.approx(1.0)  # outliers trimmed
    assert iqm(np.array([3.0, 5.0])) == pytest.approx(4.0)  # < 4 values: plain mean
    x = np.array([[0, 0, 1, 1, 1, 1, 100, 100], [1, 2, 3, 4, 5, 6, 7, 8]], dtype=float)
    np.testing.assert_allclose(iqm(x, axis=1), [1.0, 4.5])
    # several axes at once = flatten those axes
    stack = np.stack([x, 2 * x])  # [2, 2, 8]
    np.testing.assert_allclose(iqm_score(stack), [iqm(x.ravel()), iqm(2 * x.ravel())])


def _slow_ci(scores, stat, n_boot, alpha, seed):
    """Loop reference: same random indices, one replicate and one task at a time."""
    n_runs, n_tasks = scores.shape
    idx = np.random.default_rng(seed).integers(0, n_runs, size=(n_boot, n_runs, n_tasks))
    boot = []
    for b in range(n_boot):
        sample = np.empty_like(scores)
        for t in range(n_tasks):
            sample[:, t] = scores[idx[b, :, t], t]
        boot.append(float(stat(sample[None])[0]))
    return np.quantile(boot, [alpha / 2, 1 - alpha / 2])


@pytest.mark.parametrize("stat", [mean_score, iqm_score])
def test_bootstrap_matches_loop_reference(stat):
    scores = np.random.default_rng(3).normal(size=(5, 3)) * [1.0, 10.0, 100.0]
    point, low, high = stratified_bootstrap_ci(scores, stat, n_boot=300, alpha=0.1, seed=7)
    ref_low, ref_high = _slow_ci(scores, stat, 300, 0.1, 7)
    assert (low, high) == pytest.approx((ref_low, ref_high))
    assert point == pytest.approx(float(stat(scores[None])[0]))


def test_bootstrap_is_stratified():
    """Tasks are never mixed: task 0 always 0, task 1 always 100 -> every replicate's mean is 50."""
    scores = np.column_stack([np.zeros(6), np.full(6, 100.0)])
    point, low, high = stratified_bootstrap_ci(scores, "mean", n_boot=500, seed=1)
    assert point == low == high == pytest.approx(50.0)


def test_bootstrap_ci_contains_point_shrinks_and_is_reproducible():
    rng = np.random.default_rng(0)
    small, big = rng.normal(10.0, 3.0, size=(5, 4)), rng.normal(10.0, 3.0, size=(500, 4))
    for stat in ("mean", "iqm"):
        p_s, lo_s, hi_s = stratified_bootstrap_ci(small, stat, seed=0)
        p_b, lo_b, hi_b = stratified_bootstrap_ci(big, stat, seed=0)
        assert lo_s <= p_s <= hi_s and lo_b <= p_b <= hi_b
        assert hi_b - lo_b < 0.3 * (hi_s - lo_s)  # width ~ 1/sqrt(n_runs): ratio ~0.1
        assert stratified_bootstrap_ci(small, stat, seed=0) == (p_s, lo_s, hi_s)
    assert stratified_bootstrap_ci(small, "mean", seed=1) != stratified_bootstrap_ci(small, "mean", seed=0)


def test_bootstrap_degenerate_and_bad_input():
    point, low, high = stratified_bootstrap_ci(np.full((5, 3), 7.0), "iqm")
    assert point == low == high == 7.0
    with pytest.raises(ValueError, match="NaN"):
        stratified_bootstrap_ci(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(ValueError, match="unknown statistic"):
        stratified_bootstrap_ci(np.ones((3, 2)), "mode")
    with pytest.raises(ValueError, match="shape"):
        stratified_bootstrap_ci(np.ones((0, 2)))


def test_seed_runs_and_interval_table():
    rewards = pd.DataFrame({"env": ["cartpole", "cartpole"], "agent": [1, 2],
                            "seed_returns": ["10.0;20.0;30.0", "5;5;5"]})
    runs = seed_runs(rewards)
    assert list(runs["seed_return"]) == [10.0, 20.0, 30.0, 5.0, 5.0, 5.0]
    assert list(runs["seed"]) == [0, 1, 2, 0, 1, 2]
    per_agent = interval_table(runs, ["env", "agent"], "seed_return", "seed", n_boot=200)
    a1, a2 = per_agent.iloc[0], per_agent.iloc[1]
    assert a1["mean"] == pytest.approx(20.0) and a1["std"] == pytest.approx(np.std([10, 20, 30]))
    assert per_agent[["mean_ci_low", "mean_ci_high", "iqm_ci_low", "iqm_ci_high"]].isna().all().all()  # 3 runs: no CI
    five = seed_runs(rewards.assign(seed_returns=["10;20;30;40;50", "5;5;5;5;5"]))
    a1, a2 = (r for _, r in interval_table(five, ["env", "agent"], "seed_return", "seed", n_boot=200).iterrows())
    assert a1["mean_ci_low"] < 30.0 < a1["mean_ci_high"]
    assert a2["mean_ci_low"] == a2["mean_ci_high"] == 5.0
    pooled = interval_table(runs, ["env"], "seed_return", "seed", task_col="agent", n_boot=200)
    assert pooled.loc[0, "n_runs"] == 3 and pooled.loc[0, "n_tasks"] == 2
    assert pooled.loc[0, "mean"] == pytest.approx(12.5)
    with pytest.raises(ValueError, match="duplicate"):
        interval_table(runs, ["env"], "seed_return", "seed")  # runs repeat across agents
    with pytest.raises(ValueError, match="unparseable"):
        seed_runs(rewards.assign(seed_returns=["1;x", "2"]))


# ------------------------------------------------------------------------------------------ verdicts
def test_reward_verdict_boundaries():
    paper = np.array([10.0, 10.0, 10.0, 200.0, 200.0, 199.8, -500.0, -500.0, 100.0, 100.0])
    std = np.array([1.5, 1.5, 1.5, 0.0, np.nan, 0.2, 0.0, 0.0, 0.3, 0.3])
    ours = np.array([13.0, 13.01, 6.99, 199.0, 192.7, 198.8, -480.0, -501.01, 101.0, 98.99])
    verdict, tol = cmp.reward_verdicts(ours, paper, std)
    assert list(verdict) == ["reproduced", "better", "worse",  # exactly 2 std in; just past it out
                             "reproduced", "worse",  # std 0 / NaN: 1 reward unit, not a % of the paper's value
                             "reproduced",  # std 0.2 -> the same floor: the tolerance never shrinks as std grows
                             "better", "worse",  # a failed -500 +- 0.0: above it is better
                             "reproduced", "worse"]  # 2 x 0.3 < 1: the floor
    np.testing.assert_allclose(tol, [3, 3, 3, 1, 1, 1, 1, 1, 1, 1])
    # monotone: a larger paper std never makes a cell harder to reproduce
    stds = np.linspace(0, 5, 51)
    _, tols = cmp.reward_verdicts(np.zeros_like(stds), np.full_like(stds, 100.0), stds)
    assert np.all(np.diff(tols) >= 0)


def test_rmse_verdict_boundaries():
    paper = np.full(4, 0.1)
    ours = np.array([0.2, 0.05, 0.2001, 0.0499])
    assert list(cmp.rmse_verdicts(ours, paper, decimals=None)) == ["reproduced", "reproduced", "worse", "better"]
    # with the paper's 3-decimal rounding the band is [0.5 * 0.0995, 2 * 0.1005]
    assert list(cmp.rmse_verdicts(np.array([0.2009, 0.0498, 0.2011, 0.0497]), paper, decimals=3)) == [
        "reproduced", "reproduced", "worse", "better"]
    # a printed 0.000 means < 0.0005: ours <= 0.001 reproduces it, nothing can beat it
    assert list(cmp.rmse_verdicts(np.array([0.0, 0.001, 0.0012]), np.zeros(3))) == [
        "reproduced", "reproduced", "worse"]
    assert list(cmp.rmse_verdicts(np.array([np.nan, 0.1]), np.array([0.1, np.nan]))) == ["missing", "no paper value"]


# ------------------------------------------------------------------------------------------ labels
def test_label_normalisation():
    assert [cmp.normalize_method(m) for m in ("persim", "bcq_p", "MOREL-A", "cadm_pets", "Vanilla CaDM",
                                               "true_mpc", "True env + MPC")] == [
        "PerSim", "BCQ-P", "MOReL-A", "PE-TS CaDM", "Vanilla CaDM", "True env+MPC", "True env+MPC"]
    assert [cmp.normalize_dataset(d) for d in ("Pure", "pure-eps-20", "Pure-ε-40".replace("ε", "eps"),
                                                "pure_eps_0.2", np.nan, "", "RANDOM")] == [
        "pure", "pure_eps20", "pure_eps40", "pure_eps20", "", "", "random"]
    assert cmp.normalize_env("MountainCar-v0") == "mountaincar"
    assert cmp.normalize_env("HalfCheetah") == "halfcheetah"
    with pytest.raises(ValueError, match="unknown env"):
        cmp.normalize_env("pendulum")


# ------------------------------------------------------------------------------------------ compare
@pytest.fixture(scope="module")
def paper():
    return load_paper_tables()


def _paper_value(paper, table, dataset, method, agent, metric):
    p = paper[(paper["table"] == table) & (paper["method"] == method) & (paper["agent"] == agent)
              & (paper["metric"] == metric) & (paper["dataset"].fillna("") == dataset)]
    assert len(p) == 1
    return float(p["mean"].iloc[0]), float(p["std"].iloc[0])


def test_compare_cells_labels_and_missing(paper):
    rmse_paper, _ = _paper_value(paper, 6, "pure", "PerSim", 1, "rmse")
    rew_paper, rew_std = _paper_value(paper, 10, "pure_eps40", "BCQ-P", 2, "reward")
    mpc_paper, mpc_std = _paper_value(paper, 9, "", "True env+MPC", 3, "reward")
    prediction = pd.DataFrame({"env": ["mountaincar"] * 2, "dataset": ["pure", "pure"],
                               "method": ["persim", "persim"], "agent": [1, 2],
                               "rmse": [3 * rmse_paper, np.nan], "r2_median": [0.5, 0.9], "rmse_std": [0.01, 0.0]})
    reward = pd.DataFrame({"env": ["CartPole", "mountaincar", "cartpole"],
                           "dataset": ["pure-eps-40", np.nan, "pure"],
                           "method": ["bcq_p", "true_mpc", "PerSim-BCQ-5"], "agent": [2, 3, 1],
                           "reward": [rew_paper + 2 * rew_std, mpc_paper - 2.5 * mpc_std, 1.0],
                           "reward_std": [1.0, 2.0, 0.0]})
    c = cmp.compare(prediction, reward, paper)
    appendix = c[c["table"] >= 6]
    # every paper cell of Tables 6-11 appears once, plus our one cell without a paper value
    n_paper = int((paper["table"].isin(range(6, 9)) & (paper["metric"] == "rmse")).sum()
                  + (paper["table"].isin(range(9, 12)) & (paper["metric"] == "reward")).sum())
    assert len(appendix) == n_paper + 1
    assert not appendix.duplicated(["table", "env", "dataset", "method", "agent"]).any()

    def cell(table, dataset, method, agent, env=None):
        row = c[(c["table"] == table) & (c["dataset"] == dataset) & (c["method"] == method) & (c["agent"] == agent)
                & ((c["env"] == env) if env else True)]
        assert len(row) == 1
        return row.iloc[0]

    r = cell(6, "pure", "PerSim", 1)
    assert r["verdict"] == "worse" and r["ratio"] == pytest.approx(3.0) and r["ours_r2"] == 0.5
    assert r["paper"] == rmse_paper and not np.isnan(r["paper_r2"]) and np.isnan(r["difference"])
    r = cell(6, "pure", "PerSim", 2)  # a result row holding NaN: "failed" (not "missing", nothing invented)
    assert r["verdict"] == "failed" and np.isnan(r["ours"])
    r = cell(10, "pure_eps40", "BCQ-P", 2)
    assert r["verdict"] == "reproduced" and r["difference"] == pytest.approx(2 * rew_std)
    r = cell(9, "", "True env+MPC", 3)
    assert r["verdict"] == "worse" and r["ours_std"] == 2.0
    r = cell(10, "pure", "PerSim-BCQ-5", 1)
    assert r["verdict"] == "no paper value" and np.isnan(r["paper"])
    r = cell(11, "random", "CQL-A", 5)
    assert r["verdict"] == "missing" and np.isnan(r["ours"]) and not np.isnan(r["paper"])
    # Table 1 repeats the shown agents only: MountainCar 1, 4, 5
    t1 = c[(c["table"] == 1) & (c["env"] == "mountaincar")]
    assert set(t1["agent"]) == {1, 4, 5} and (t1["metric"] == "rmse").all()
    assert cell(1, "pure", "PerSim", 1, "mountaincar")["verdict"] == "worse"
    assert set(c.loc[(c["table"] == 2) & (c["env"] == "halfcheetah"), "agent"]) == {1, 2, 3}


def test_compare_accepts_table_long_form(paper):
    """The merged tables/*_long.csv give the same cells as the per-cell results."""
    results = pd.DataFrame({"env": ["cartpole"], "dataset": ["random"], "method": ["PerSim"], "agent": [4],
                            "rmse": [0.02], "r2_median": [0.8]})
    long = results.melt(id_vars=["env", "dataset", "method", "agent"], value_vars=["rmse", "r2_median"],
                        var_name="metric", value_name="ours")
    a = cmp.compare(results, None, paper, main_tables=False)
    b = cmp.compare(long, None, paper, main_tables=False)
    pd.testing.assert_frame_equal(a, b)
    assert (a["verdict"] == "missing").sum() == len(a) - 1


def test_duplicate_results_are_rejected(paper):
    dup = pd.DataFrame({"env": ["cartpole"] * 2, "dataset": ["pure"] * 2, "method": ["persim", "PerSim"],
                        "agent": [1, 1], "reward": [1.0, 2.0], "reward_std": [0.0, 0.0]})
    with pytest.raises(ValueError, match="duplicate"):
        cmp.compare(None, dup, paper)


def test_summary_and_markdown(paper):
    reward = pd.DataFrame({"env": ["mountaincar"] * 3, "dataset": ["pure"] * 3, "method": ["PerSim"] * 3,
                           "agent": [1, 2, 3], "reward": [-56.8, -100.0, -300.0], "reward_std": [1.0, 2.0, 3.0]})
    c = cmp.compare(None, reward, paper)
    s = cmp.summarize(c).set_index("table")
    t9 = s.loc["9"]
    assert (t9["reproduced"], t9["worse"], t9["n_ours"], t9["n_compared"]) == (1, 2, 3, 3)
    assert t9["missing"] == t9["n_cells"] - 3 and t9["share_reproduced"] == pytest.approx(1 / 3)
    t2 = s.loc["2"]  # agents 1 (reproduced) and 3 (not shown in Table 2)
    assert (t2["reproduced"], t2["n_compared"]) == (1, 1)
    overall = s.loc["overall"]
    assert overall["n_compared"] == 3 and overall["n_cells"] == len(c[c["table"] >= 6])
    assert np.isnan(s.loc["6", "share_reproduced"])
    md = cmp.to_markdown(c, cmp.summarize(c))
    assert md.index("## Summary") < md.index("## Table 9")
    assert "| 9 | reward | 1 | 0 | 2 |" in md and "33.3%" in md
    assert "-56.8 ± 1.0 [-56.8 ± 1.8] ✓" in md  # rewards: 1 decimal ± std, then the paper's cell
    assert "Vanilla CaDM (all datasets)" in md
    assert "| Data | Method | Agent 1 | Agent 2 | Agent 3 | Agent 4 | Agent 5 |" in md
    pred = pd.DataFrame({"env": ["halfcheetah"], "dataset": ["pure"], "method": ["PerSim"], "agent": [1],
                         "rmse": [1.23456], "r2_median": [0.5]})
    md = cmp.to_markdown(cmp.compare(pred, None, paper))
    assert "1.235 (0.500) [1.401 (0.890)] ✓" in md


def test_pipe_table_escapes():
    text = cmp.pipe_table(["a", "b|c"], [["1", "x|y"]])
    assert text.splitlines() == ["| a | b\\|c |", "| :-- | :-- |", "| 1 | x\\|y |"]


def test_paper_typos_do_not_crash(paper):
    """A repeated paper cell keeps its last value (as the CSV does for Table 13's stray cell); an
    unparseable or empty paper value is no paper value; other tables are ignored."""
    cell = (paper["table"] == 9) & (paper["dataset"] == "pure") & (paper["method"] == "PerSim") & (paper["agent"] == 1)
    extra = paper[cell].assign(mean=-10.0, std=1.0)
    blank = paper[(paper["table"] == 9) & (paper["dataset"] == "pure") & (paper["method"] == "PerSim")
                  & (paper["agent"] == 2)]
    bad = pd.concat([paper.drop(index=blank.index), extra, blank.assign(mean="n/a")], ignore_index=True)
    reward = pd.DataFrame({"env": ["mountaincar"] * 2, "dataset": ["pure"] * 2, "method": ["PerSim"] * 2,
                           "agent": [1, 2], "reward": [-10.5, -74.3], "reward_std": [0.0, 0.0]})
    c = cmp.compare(None, reward, bad, main_tables=False)
    rows = c[(c["table"] == 9) & (c["dataset"] == "pure") & (c["method"] == "PerSim")].set_index("agent")
    assert rows.loc[1, "paper"] == -10.0 and rows.loc[1, "verdict"] == "reproduced"
    assert np.isnan(rows.loc[2, "paper"]) and rows.loc[2, "verdict"] == "no paper value"


def test_claims_are_judged_on_the_paper_and_on_ours(paper):
    """Claim (i) holds in ours when PerSim's RMSE is below both CaDMs' for every unit we have;
    claim (iv) from held-out factor regressions; (v)/(vi) are not run."""
    from persim.reporting.claims import factor_regression_r2, judge_claims

    rows = []
    for agent in range(1, 6):
        for method, rmse in (("PerSim", 0.01), ("Vanilla CaDM", 0.05), ("PE-TS CaDM", 0.02 if agent < 5 else 0.005)):
            rows.append({"env": "mountaincar", "dataset": "pure", "method": method, "agent": agent, "rmse": rmse,
                         "r2_median": 0.9})
    cells = cmp.compare(pd.DataFrame(rows), None, paper)
    rng = np.random.default_rng(0)
    u = rng.normal(size=(60, 3))
    cov = pd.DataFrame({"gravity": u @ [1.0, -2.0, 0.5] + 3.0, "noise": rng.normal(size=60)})
    r2 = factor_regression_r2(u, cov)
    assert r2.loc[0, "r2"] > 0.99 and r2.loc[1, "r2"] < 0.2  # u determines gravity, not noise
    claims = judge_claims(cells, r2).set_index("claim")
    i = claims.loc["i"]
    assert i["n_units"] == 5 and i["ours_holds"] == 4 and i["verdict"] == "holds partly"  # agent 5: PE-TS better
    assert 0 <= i["paper_share"] <= 1
    assert claims.loc["iv", "verdict"] == "holds partly" and pd.isna(claims.loc["iv", "paper_share"])
    assert claims.loc["ii", "verdict"] == "not run" and claims.loc["v", "verdict"] == "not run"
    summary = cmp.summarize(cells, claims.reset_index())
    assert (summary["kind"] == "claim").sum() == 7
    assert "claim (i)" not in cmp.to_markdown(cells, summary)  # claims have their own page
    written = summary.to_csv(index=False).splitlines()  # counts stay whole numbers beside the claim rows
    counts = written[1].split(",")[2:8]
    assert all(c.isdigit() for c in counts), written[1]


def test_mpc_rows_carry_this_runs_true_env_ceiling(paper):
    """Every MPC row's reward cell sits beside this run's own True env + MPC for that agent (same budget)."""
    reward = pd.DataFrame({"env": ["mountaincar"] * 4, "dataset": ["", "pure", "pure", "random"],
                           "method": ["true_mpc", "persim", "bcq_p", "cadm_pets"], "agent": [4, 4, 4, 1],
                           "reward": [-290.0, -370.0, -500.0, -60.0], "reward_std": [1.0, 2.0, 0.0, 1.0]})
    c = cmp.compare(None, reward, paper)
    row = lambda t, ds, m, a: c[(c["table"] == t) & (c["dataset"] == ds) & (c["method"] == m) & (c["agent"] == a)].iloc[0]  # noqa: E731
    assert row(9, "pure", "PerSim", 4)["ceiling"] == -290.0
    assert row(2, "pure", "PerSim", 4)["ceiling"] == -290.0  # Table 2 repeats the cell
    assert np.isnan(row(9, "pure", "BCQ-P", 4)["ceiling"])  # a policy, not a planner
    assert np.isnan(row(9, "random", "PE-TS CaDM", 1)["ceiling"])  # no True env + MPC of ours for agent 1
    md = cmp.to_markdown(c)
    assert "Ceiling of the MPC rows at this run's planner budget (this run's True env + MPC there): agent 4 -290.0." in md


def test_worse_mpc_cells_whose_ceiling_misses_too_are_planner_limited(paper):
    """A simulator's worse MPC cell is planner-limited only where this run's True env + MPC (same budget)
    is itself below the paper's value of that cell by more than its tolerance and the cell reaches that
    ceiling within the tolerance; a worse True env + MPC cell always is; policies, reproduced cells,
    cells above a good ceiling and cells well below a failing one never are."""
    reward = pd.DataFrame({"env": ["mountaincar"] * 7, "dataset": ["", "", "pure", "pure", "random", "pure", "pure_eps20"],
                           "method": ["true_mpc", "true_mpc", "persim", "persim", "persim", "bcq_p", "persim"],
                           "agent": [4, 5, 4, 5, 4, 3, 4], "reward": [-290.0, -200.0, -295.0, -400.0, -187.0, -500.0, -370.0],
                           "reward_std": [1.0] * 7})
    c = cmp.compare(None, reward, paper)
    cell = lambda ds, m, a: c[(c["table"] == 9) & (c["dataset"] == ds) & (c["method"] == m) & (c["agent"] == a)].iloc[0]  # noqa: E731
    assert cell("", "True env+MPC", 4)["planner_limited"]          # -290 vs -182.9 +- 2 x 22.9
    assert not cell("", "True env+MPC", 5)["planner_limited"]      # reproduced
    assert cell("pure", "PerSim", 4)["planner_limited"]            # ceiling -290 < -189.4 - 2 x 6.44; -295 reaches it
    assert cell("pure_eps20", "PerSim", 4)["verdict"] == "worse"   # the same failing ceiling, but -370 is
    assert not cell("pure_eps20", "PerSim", 4)["planner_limited"]  # 80 below it (tolerance 2 x 6.7): the model too
    assert cell("pure", "PerSim", 5)["verdict"] == "worse"
    assert not cell("pure", "PerSim", 5)["planner_limited"]        # the ceiling -200 reproduces -210.6: the model
    assert cell("random", "PerSim", 4)["verdict"] == "reproduced" and not cell("random", "PerSim", 4)["planner_limited"]
    assert cell("pure", "BCQ-P", 3)["verdict"] == "worse" and not cell("pure", "BCQ-P", 3)["planner_limited"]
    summary = cmp.summarize(c).set_index("table")
    assert summary.loc["9", "worse"] == 5 and summary.loc["9", "worse_planner_limited"] == 2
    claim_row = pd.DataFrame([{"table": "claim (i)", "kind": "claim"}])  # NaN counts: the columns turn float
    md = cmp.to_markdown(c, pd.concat([cmp.summarize(c), claim_row], ignore_index=True))
    assert "| 9 | reward | 2 | 0 | 5 | 178 | 0 | 0 | 2 | 185 | 7 | 7 | 28.6% |" in md  # counts print as integers
    assert "-295.0 ± 1.0 [-189.4 ± 6.4] ▽" in md and "-400.0 ± 1.0 [-210.6 ± 4.3] ▼" in md
    assert "-370.0 ± 1.0 [-191.2 ± 6.7] ▼" in md
    from persim.reporting.html import comparison_html

    page = comparison_html(c, cmp.summarize(c))
    assert "<th>worse_planner_limited</th>" in page and "<th>planner_limited</th>" in page
    import html
    assert "<th>tolerance</th>" in page  # the HTML states the same rules as the Markdown, and each cell's tolerance
    assert all(html.escape(line) in page for line in cmp.rule_text(c)[1:]) and cmp.rule_text(c)[1] in md
    # a comparison.csv written before the column: recomputed from its ceiling
    assert list(cmp.planner_limited(c.drop(columns="planner_limited"))) == list(c["planner_limited"])


def test_true_env_at_the_reference_budget_is_judged_against_the_papers_true_env(paper):
    """A True env + MPC row at the reference budget (config `evaluation.reward.reference_mpc`) is set
    beside the paper's True env + MPC cells, gets its own summary row, counts in no table's row, is
    never the ceiling of the MPC rows nor a Table 2 cell, and is a row of the env's LaTeX table."""
    from persim.reporting.labels import TRUE_MPC_REFERENCE
    from persim.reporting.reward_tables import reward_latex, reward_long

    reward = pd.DataFrame({"env": ["mountaincar"] * 4, "dataset": [""] * 3 + ["pure"],
                           "method": ["true_mpc", TRUE_MPC_REFERENCE, TRUE_MPC_REFERENCE, "persim"],
                           "agent": [4, 4, 5, 4], "reward": [-290.0, -205.0, -300.0, -370.0],
                           "reward_std": [1.0] * 4})
    c = cmp.compare(None, reward, paper)
    ref = c[c["method"] == TRUE_MPC_REFERENCE].set_index("agent")
    assert set(ref["table"]) == {9} and list(ref.index) == [1, 2, 3, 4, 5]  # the paper's five True env cells
    assert ref.loc[4, "paper"] == -182.9 and ref.loc[4, "verdict"] == "reproduced"  # |-205 + 182.9| <= 2 x 22.9
    assert ref.loc[5, "verdict"] == "worse" and not ref.loc[5, "planner_limited"]  # at the paper's budget: no excuse
    assert ref.loc[1, "verdict"] == "missing"
    respelled = paper.assign(method=paper["method"].replace({"True env+MPC": "true_mpc"}),
                             env=paper["env"].replace({"mountaincar": "MountainCar-v0"}))
    again = cmp.compare(None, reward, respelled)  # any spelling compare accepts: the same paper cells
    assert again.loc[again["method"] == TRUE_MPC_REFERENCE, "paper"].tolist() == ref["paper"].tolist()
    persim = c[(c["table"] == 9) & (c["method"] == "PerSim") & (c["agent"] == 4) & (c["dataset"] == "pure")].iloc[0]
    assert persim["ceiling"] == -290.0  # the ceiling stays the run's own budget
    assert not ((c["table"] == 2) & (c["method"] == TRUE_MPC_REFERENCE)).any()
    summary = cmp.summarize(c).set_index("table")
    assert summary.loc["9", "n_cells"] == 185  # the paper's cells of Table 9 only
    assert summary.loc["9", "n_ours"] == 2
    row = summary.loc[cmp.REFERENCE_SUMMARY]
    assert (row["reproduced"], row["worse"], row["missing"], row["n_cells"]) == (1, 1, 3, 5)
    assert summary.loc["overall", "n_ours"] == 2
    assert "Rows marked 'reference budget': the same method planned once more" in cmp.to_markdown(c)
    from persim.reporting.claims import judge_claims

    ii = judge_claims(c).set_index("claim").loc["ii"]  # PerSim's agent 4 against the run's True env only
    assert (ii["n_units"], ii["ours_holds"], ii["verdict"]) == (1, 1, "holds")
    assert "Rows marked 'reference budget'" not in cmp.to_markdown(cmp.compare(None, reward.iloc[[0, 3]], paper))

    long = reward_long(reward.assign(method=["True env+MPC", TRUE_MPC_REFERENCE, TRUE_MPC_REFERENCE, "PerSim"]),
                       paper)
    ref_long = long[long["method"] == TRUE_MPC_REFERENCE].set_index("agent")
    assert ref_long.loc[4, ["ours", "paper"]].tolist() == [-205.0, -182.9]
    tex = reward_latex(long, "mountaincar", n_agents=100, note="This run: 100 training agents; MPC budget 100 x 25.")
    assert (f"— & {TRUE_MPC_REFERENCE} & — [-54.0 ± 4.1] & — [-72.4 ± 7.8] & — [-110.8 ± 23.8] & "
            "-205.0 ± 1.0 [-182.9 ± 22.9] & -300.0 ± 1.0 [-197.5 ± 20.7] \\\\") in tex
    assert "This run: 100 training agents; MPC budget 100 x 25." in tex and "(100 training agents)" not in tex
    assert "True env+MPC (reference budget) is the ceiling of those rows" in tex
    from persim.reporting.html import comparison_html

    assert "True env+MPC (reference budget) is the ceiling of those rows" in comparison_html(c, summary.reset_index())
    assert TRUE_MPC_REFERENCE not in reward_latex(long[long["method"] != TRUE_MPC_REFERENCE], "mountaincar")


def test_a_simulator_at_the_reference_budget_is_judged_against_its_own_paper_cells(paper):
    """A simulator's row at the reference budget (config `evaluation.reward.reference_methods`), e.g.
    "PerSim (reference budget)", is judged against the paper's PerSim cells of its dataset, has True
    env + MPC at the reference budget as its ceiling, follows its method in the LaTeX table, and counts
    only in the reference-budget summary row; the run diff keeps it only where it is named."""
    from persim.reporting.diff import select
    from persim.reporting.labels import TRUE_MPC_REFERENCE, base_label, is_reference, reference_label
    from persim.reporting.reward_tables import reward_latex, reward_long

    persim_ref = reference_label("PerSim")
    assert persim_ref == "PerSim (reference budget)" and base_label(persim_ref) == "PerSim"
    assert base_label("PerSim") == "PerSim" and base_label(TRUE_MPC_REFERENCE) == "True env+MPC"
    reward = pd.DataFrame({"env": ["mountaincar"] * 6, "dataset": ["", "", "", "random", "random", "random"],
                           "method": ["true_mpc", TRUE_MPC_REFERENCE, TRUE_MPC_REFERENCE, "persim", persim_ref,
                                      persim_ref],
                           "agent": [4, 4, 5, 4, 4, 5], "reward": [-290.0, -199.0, -201.0, -293.0, -190.0, -260.0],
                           "reward_std": [1.0] * 6})
    assert is_reference(reward).tolist() == [False, True, True, False, True, True]
    c = cmp.compare(None, reward, paper)
    ref = c[(c["method"] == persim_ref) & (c["table"] == 9)].set_index(["dataset", "agent"])
    others = ref[ref.index.get_level_values(0) != "random"]
    assert len(ref) == 20 and (others["verdict"] == "missing").all()  # the paper's 4 x 5 PerSim cells
    assert ref.loc[("random", 4), "paper"] == -186.6  # the paper's PerSim, random, agent 4
    assert ref.loc[("random", 4), "verdict"] == "reproduced"  # |-190 + 186.6| <= 2 x 4.25
    assert ref.loc[("random", 4), "ceiling"] == -199.0  # True env + MPC at the same (reference) budget
    assert ref.loc[("random", 5), "verdict"] == "worse" and not ref.loc[("random", 5), "planner_limited"]
    main = c[(c["method"] == "PerSim") & (c["table"] == 9) & (c["dataset"] == "random") & (c["agent"] == 4)].iloc[0]
    assert main["ceiling"] == -290.0 and main["planner_limited"]  # the run's own budget: its own ceiling
    assert not (c["table"].isin([1, 2]) & (c["method"] == persim_ref)).any()
    summary = cmp.summarize(c).set_index("table")
    assert summary.loc["9", "n_ours"] == 2  # True env + MPC and PerSim at the run's budget
    row = summary.loc[cmp.REFERENCE_SUMMARY]  # 5 True env cells + 20 PerSim cells
    assert (row["n_cells"], row["n_ours"], row["reproduced"], row["worse"]) == (25, 4, 3, 1)
    md = cmp.to_markdown(c)
    assert "Ceiling of the MPC rows at the reference budget (this run's True env + MPC there): agent 4 -199.0" in md

    long = reward_long(reward.assign(method=["True env+MPC", TRUE_MPC_REFERENCE, TRUE_MPC_REFERENCE, "PerSim",
                                             persim_ref, persim_ref]), paper)
    tex = reward_latex(long, "mountaincar")
    body = [line.split(" & ")[1] for line in tex.splitlines() if line.startswith("Random & ")]
    assert body.index(persim_ref) == body.index("PerSim") + 1  # right below its method
    pure = next(line for line in tex.splitlines() if line.startswith("Pure & PerSim (reference budget)"))
    assert pure.count("— [") == 5  # not planned there: the paper's cells beside "—"

    cells = c.assign(table=c["table"].astype(str))
    assert persim_ref not in set(select(cells)["method"]) and persim_ref not in set(select(cells, ["9"], ["PerSim"])["method"])
    assert set(select(cells, ["9"], ["PerSim", persim_ref])["method"]) == {"PerSim", persim_ref}


def test_the_authors_stored_outputs_are_a_second_reference(paper):
    """Where the authors' released code stored a result of its own (MountainCar Random and CartPole Pure,
    PerSim), each such cell carries it: judged against the paper and ours judged against it; the
    summary counts both, the Markdown and HTML pages list them."""
    from persim.reporting.authors import AUTHORS_VS_PAPER, OURS_VS_AUTHORS, load_authors_outputs
    from persim.reporting.html import comparison_html

    authors = load_authors_outputs()
    assert len(authors) == 20 and set(authors["agent"]) == {1, 2, 3, 4, 5}
    assert set(zip(authors["table"], authors["dataset"])) == {(6, "random"), (7, "pure"), (9, "random"), (10, "pure")}
    # a fact of the data: the authors' own prediction output misses their published Table 6 on every agent
    t6 = authors[authors["table"] == 6].set_index("agent")["value"]
    assert all(t6[a] > 2 * (_paper_value(paper, 6, "random", "PerSim", a, "rmse")[0] + 0.0005) for a in range(1, 6))

    prediction = pd.DataFrame({"env": ["mountaincar"] * 3, "dataset": ["random"] * 3, "method": ["persim"] * 3,
                               "agent": [1, 4, 5], "rmse": [t6[1] * 1.5, t6[4] / 3, t6[5] * 3], "r2_median": [0.9] * 3})
    reward = pd.DataFrame({"env": ["cartpole"] * 2, "dataset": ["pure"] * 2, "method": ["persim", "PerSim (reference budget)"],
                           "agent": [1, 1], "reward": [199.0, 110.2], "reward_std": [0.5, 0.5]})
    c = cmp.compare(prediction, reward, paper)
    stored_in = {6: "random", 10: "pure"}
    cell = lambda t, m, a: c[(c["table"] == t) & (c["dataset"] == stored_in[t]) & (c["method"] == m)  # noqa: E731
                             & (c["agent"] == a)].iloc[0]
    r = cell(6, "PerSim", 1)
    assert r["authors_code"] == t6[1] and r["verdict"] == "worse"  # 7x the paper ...
    assert (r["authors_code_vs_paper"], r["ours_vs_authors_code"]) == ("worse", "reproduced")  # ... where theirs is
    assert cell(6, "PerSim", 4)["ours_vs_authors_code"] == "better" and cell(6, "PerSim", 5)["ours_vs_authors_code"] == "worse"
    assert cell(6, "PerSim", 2)["ours_vs_authors_code"] == "missing"  # theirs stored, ours not run
    r = cell(10, "PerSim", 1)  # theirs: one episode of 110 against the paper's 199.7 ± 0.3
    assert r["authors_code"] == 110.0 and r["authors_code_vs_paper"] == "worse" and r["ours_vs_authors_code"] == "better"
    ref = cell(10, "PerSim (reference budget)", 1)  # a reference-budget row gets its method's stored value
    assert ref["authors_code"] == 110.0 and ref["ours_vs_authors_code"] == "reproduced"  # |110.2 - 110| <= the cell tolerance
    assert ref["tolerance"] == r["tolerance"]
    assert c.loc[c["table"].isin([1, 2, 8, 11]) | (c["method"] != "PerSim") & ~c["method"].str.startswith("PerSim ("),
                 "authors_code"].isna().all()
    s = cmp.summarize(c).set_index("table")
    theirs, ours = s.loc[AUTHORS_VS_PAPER], s.loc[OURS_VS_AUTHORS]  # 20 cells each, no reference-budget rows
    assert theirs["n_cells"] == ours["n_cells"] == 20 and theirs["n_ours"] == 20 and ours["n_ours"] == 4
    assert (ours["reproduced"], ours["better"], ours["worse"], ours["missing"]) == (1, 2, 1, 16)
    assert theirs["worse"] >= 5 and s.loc["overall", "n_cells"] == len(c[(c["table"] >= 6) & ~c["method"].str.endswith(")")])
    md = cmp.to_markdown(c)
    assert md.index("## The authors' own stored outputs") < md.index("## Table 6")
    assert "| 6 | MountainCar | Random | PerSim | 1 | 0.0040 | 0.0196 | 0.0295 | worse | reproduced |" in md
    page = comparison_html(c, cmp.summarize(c))
    assert "<h2>The authors' own stored outputs</h2>" in page and "ours vs authors&#x27; code" in page


def test_a_bad_authors_outputs_file_is_named(tmp_path):
    from persim.reporting.authors import AUTHORS_COLUMNS, load_authors_outputs

    good = load_authors_outputs()
    path = tmp_path / "authors.csv"
    good.drop(columns=["source"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"authors.csv: missing columns \['source'\]"):
        load_authors_outputs(str(path))
    good.assign(value=["x"] + list(good["value"][1:])).to_csv(path, index=False)
    with pytest.raises(ValueError, match="column 'value' is not numeric in row\\(s\\) \\[2\\]"):
        load_authors_outputs(str(path))
    pd.concat([good, good.head(1)])[AUTHORS_COLUMNS].to_csv(path, index=False)
    with pytest.raises(ValueError, match="cells given twice"):
        load_authors_outputs(str(path))


# ------------------------------------------------------------------------------------------ run diff
def _comparison_run(root, verdicts: dict[tuple[int, str, int], tuple[float, str]]):
    """A run dir holding report/comparison.csv with one MountainCar `random` cell per
    (table, method, agent) -> (ours, verdict); Table 1 repeats Table 6's agent-1 cells."""
    rows = [{"table": t, "env": "mountaincar", "dataset": "random", "method": m, "agent": a,
             "metric": "rmse" if t in (1, 6) else "reward", "ours": ours, "paper": 1.0, "verdict": v,
             "n_train_agents": 500}
            for (t, m, a), (ours, v) in verdicts.items()]
    (root / "report").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(root / "report" / "comparison.csv", index=False)
    return root


def test_run_diff_counts_per_table_focus_and_changed_cells(tmp_path, capsys):
    from persim.reporting import diff

    old = _comparison_run(tmp_path / "old", {
        (6, "PerSim", 1): (0.02, "worse"), (6, "PerSim", 2): (0.001, "reproduced"),
        (6, "Vanilla CaDM", 1): (0.5, "worse"), (1, "PerSim", 1): (0.02, "worse"),
        (9, "PerSim", 1): (-300.0, "worse"), (9, "True env+MPC", 1): (-60.0, "reproduced"),
    })
    new = _comparison_run(tmp_path / "new", {
        (6, "PerSim", 1): (0.001, "reproduced"), (6, "PerSim", 2): (0.0001, "better"),
        (6, "Vanilla CaDM", 1): (0.5, "worse"), (1, "PerSim", 1): (0.001, "reproduced"),
        (9, "PerSim", 1): (np.nan, "missing"), (9, "True env+MPC", 1): (-60.0, "reproduced"),
    })
    rows = diff.per_table(diff.load_comparison(old), diff.load_comparison(new)).set_index("table")
    assert list(rows.index) == ["1", "6", "9", "overall"]
    assert rows.loc["6", ["compared_old", "reproduced_old", "worse_old"]].tolist() == [3, 1, 2]
    assert rows.loc["6", ["compared_new", "reproduced_new", "better_new", "good_new"]].tolist() == [3, 1, 1, 2]
    assert rows.loc["9", "compared_new"] == 1  # a missing cell is not compared
    # the overall row leaves out Table 1 (it repeats Table 6's cells)
    assert rows.loc["overall", ["compared_old", "good_old", "compared_new", "good_new"]].tolist() == [5, 2, 4, 3]
    assert rows.loc["overall", "share_old"] == pytest.approx(2 / 5)

    diff.main([str(old), str(new / "report" / "comparison.csv"), "--tables", "6", "9", "--methods", "persim",
               "True env + MPC", "--cells"])
    out = capsys.readouterr().out
    assert "reproduced or better 2 / 4 -> 3 / 3 compared; worse 2 -> 0, of them planner-limited" in out
    assert "misses the cell too) 0 -> 0" in out  # no ceiling column in these files: nothing is flagged
    assert "3 cells changed verdict" in out  # PerSim agent 1 and 2 of Table 6, agent 1 of Table 9
    assert "Vanilla CaDM" not in out.split("cells changed verdict")[1]


def test_run_diff_counts_the_reference_budget_apart(tmp_path, capsys):
    """True env + MPC at a reference budget has its own row in the diff and is out of the focus unless
    --methods names it (it judges the paper's True env + MPC cells a second time)."""
    from persim.reporting import diff

    cells = {(9, "True env+MPC", 4): (-290.0, "worse"), (9, "True env+MPC (reference budget)", 4): (-205.0, "reproduced")}
    old, new = _comparison_run(tmp_path / "old", cells), _comparison_run(tmp_path / "new", cells)
    rows = diff.per_table(diff.load_comparison(old), diff.load_comparison(new)).set_index("table")
    assert list(rows.index) == ["9", "overall", "reference budget"]
    assert rows.loc["9", "compared_new"] == rows.loc["overall", "compared_new"] == 1
    assert rows.loc["reference budget", ["compared_new", "reproduced_new"]].tolist() == [1, 1]
    diff.main([str(old), str(new), "--tables", "9"])
    assert "reproduced or better 0 / 1 -> 0 / 1 compared" in capsys.readouterr().out
    diff.main([str(old), str(new), "--methods", "True env+MPC (reference budget)"])
    assert "reproduced or better 1 / 1 -> 1 / 1 compared" in capsys.readouterr().out


def test_run_diff_names_a_bad_input(tmp_path):
    from persim.reporting import diff

    with pytest.raises(FileNotFoundError, match="no comparison here"):
        diff.load_comparison(tmp_path)
    bad = tmp_path / "cells.csv"
    pd.DataFrame({"table": [6], "env": ["mountaincar"]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"cells.csv: not a comparison.csv, it lacks columns \['dataset'"):
        diff.load_comparison(bad)


def test_scope_notes_say_which_paper_settings_a_run_leaves_out_and_which_envs_data_differ(paper):
    """The report states beside the tables the paper's N a run does not train (Tables 14-16: missing, not
    run) and the envs whose policies miss the paper's target by more than 25% (their data differ)."""
    from persim.reporting.html import comparison_html
    from persim.reporting.scope import Scope, policy_notes, table_notes

    notes = table_notes({"n_agents": [50, 25], "n_trials": 2})
    assert set(notes) == {14, 15, 16}
    assert "N = 50, 25 (config data_scarcity.n_agents" in notes[14] and "2 trials per N" in notes[14]
    assert "N = 250, 100: not run in this profile" in notes[14]
    assert "not run" not in table_notes({"n_agents": [25, 50, 100, 250], "n_trials": 5})[15]
    assert table_notes(None) == {}
    assert set(table_notes({"n_agents": [25], "n_trials": 2}, ["mountaincar"])) == {14}  # no note for envs not run
    main = table_notes({"n_agents": [50, 25], "n_trials": 2, "main_run_n": 100})[14]  # quick: the main run is N = 100
    assert "N = 100 is this run's main experiment" in main and "as its one trial" in main
    assert "N = 250: not run in this profile" in main and "retrained" not in main
    retrained = table_notes({"n_agents": [50], "n_trials": 1, "main_run_n": 100, "main_run_retrained": True})[14]
    assert "averages its seeds' own retrained simulators" in retrained and "one trial: no std" in retrained
    first = table_notes({"n_agents": [250, 100, 50, 25], "n_trials": 2, "main_run_n": 100})[14]
    assert "This run trains N = 250, 50, 25 (config" in first and "2 trials per N" in first
    assert "N = 100 has 2 trials too: its first is this run's main experiment" in first
    assert "its second trial is trained apart" in first
    assert "no std" not in first and "not run in this profile" not in first
    assert "trials 2-5 are trained apart" in table_notes({"n_agents": [100], "n_trials": 5, "main_run_n": 100})[14]
    alone = table_notes({"n_agents": [100], "n_trials": 1, "main_run_n": 100})[14]  # listed, nothing to train
    assert "trains no other N than its main run's" in alone and "as its one trial" in alone
    policies = pd.DataFrame({"env": ["halfcheetah", "halfcheetah", "mountaincar"], "policy": ["logging0", "test", "test"],
                             "mean_return": [-245.5, 57.8, -120.0], "paper_target": [3000.0, 4000.0, -150.0],
                             "off_target": [True, True, False]})
    env_notes = policy_notes(policies)
    assert list(env_notes) == ["halfcheetah"]
    assert "2 of this run's 2 policies" in env_notes["halfcheetah"] and "test 57.8 (target 4000)" in env_notes["halfcheetah"]
    reward = pd.DataFrame({"env": ["halfcheetah", "mountaincar"], "dataset": ["pure", "pure"], "method": ["persim"] * 2,
                           "agent": [1, 1], "reward": [100.0, -60.0], "reward_std": [1.0, 1.0]})
    c = cmp.compare(None, reward, paper)
    md = cmp.to_markdown(c, scope=Scope("This run (test): 100 training agents.", notes, env_notes))
    assert "This run (test): 100 training agents." in md.split("## Summary")[0]
    section = lambda title: md.split(f"\n## {title}")[1].split("\n## ")[0]  # noqa: E731
    assert env_notes["halfcheetah"] in section("Table 11") and env_notes["halfcheetah"] not in section("Table 9")
    md = cmp.to_markdown(c, scope=Scope(tables={9: notes[14]}))  # a table's note stands under its title (here Table 9's)
    assert notes[14] in section("Table 9") and notes[14] not in section("Table 11")
    page = comparison_html(c, cmp.summarize(c), scope=Scope("This run (test).", notes, env_notes))
    assert "Scope of this run" in page and page.count("not run in this profile") == 1  # one note for the three tables


def test_the_main_run_stands_as_a_trial_of_its_n_and_the_others_are_trained():
    """data_scarcity.main_run_trial: the main run's N (agents.n_agents) joins Tables 14-16 as one trial;
    listing that N among the trained N as well makes the main run its trial 0 and trains trials 1 to
    n_trials - 1; refused, naming the key, where the main run's seeds plan on retrained simulators (it
    would be two experiments under one N)."""
    from persim.config import ConfigError
    from persim.reporting.scope import main_run_n, trained_trials

    scarce = {"n_agents": [50, 25], "n_trials": 2, "datasets": {"mountaincar": "random", "cartpole": "pure"},
              "methods": ["persim", "bcq_p"]}
    config = {"agents": {"n_agents": 100}, "envs": ["mountaincar", "cartpole"], "behaviours": ["pure", "random"],
              "methods": {"simulators": ["persim"], "policies": ["bcq_p"]}, "data_scarcity": scarce}
    assert main_run_n(config) is None  # off unless asked for
    scarce["main_run_trial"] = True
    assert main_run_n(config) == 100
    both = {**config, "data_scarcity": {**scarce, "n_agents": [100, 50]}}
    assert main_run_n(both) == 100
    assert list(trained_trials(100, 2, 100)) == [1] and list(trained_trials(50, 2, 100)) == [0, 1]
    assert list(trained_trials(100, 2, None)) == [0, 1] and list(trained_trials(100, 1, 100)) == []
    with pytest.raises(ConfigError, match="data_scarcity.main_run_trial.*N = 100.*retrain_per_seed"):
        main_run_n({**both, "evaluation": {"reward": {"retrain_per_seed": True}}})
    assert main_run_n({**config, "evaluation": {"reward": {"retrain_per_seed": True}}}) == 100  # N not trained apart
    # a trial at no cost: the main run must hold every method and dataset of the tables
    with pytest.raises(ConfigError, match="data_scarcity.main_run_trial.*no bcq_p"):
        main_run_n({**config, "methods": {"simulators": ["persim"], "policies": []}})
    with pytest.raises(ConfigError, match="no cartpole pure data"):
        main_run_n({**config, "behaviours": ["random"]})
    assert main_run_n({**config, "envs": ["mountaincar"], "behaviours": ["random"]}) == 100  # CartPole not run


def test_reward_cell_prints_no_std_it_does_not_have():
    """One format for every reward cell (Tables 2, 9-11, 14-16, the comparison): a NaN std (one seed or
    trial) prints no "±", never a made-up "± 0.0"; a std of 0 (every seed equal) prints "± 0.0"."""
    from persim.reporting.latex import reward_cell
    from persim.reporting.reward_tables import reward_latex, reward_long

    assert reward_cell(-56.84, np.nan) == "-56.8" and reward_cell(200.0, 0.0) == "200.0 ± 0.0"
    assert reward_cell(-56.84, 1.26) == "-56.8 ± 1.3" and reward_cell(np.nan, 1.0) == "—" and reward_cell(None, None) == "—"
    paper = load_paper_tables()
    one_seed = pd.DataFrame([{"env": "mountaincar", "dataset": "pure", "method": "PerSim", "agent": 1,
                              "reward": -60.0, "reward_std": np.nan}])
    tex = reward_latex(reward_long(one_seed, paper), "mountaincar")
    assert "-60.0 [-56.8 ± 1.8]" in tex and "-60.0 ±" not in tex


def test_rmse_cell_prints_the_papers_precision_and_no_r2_it_does_not_have():
    """Prediction cells print RMSE to 3 decimals and R² as the paper's table does (3 decimals in Tables
    6-8, 2 in Tables 1 and 12); a missing R² prints the RMSE alone, never "(nan)"."""
    from persim.reporting.latex import rmse_cell
    from persim.reporting.prediction_tables import prediction_latex, prediction_long

    assert rmse_cell(0.0251, 0.9687) == "0.025 (0.969)" and rmse_cell(0.0251, 0.9687, r2_decimals=2) == "0.025 (0.97)"
    assert rmse_cell(0.0251, np.nan) == "0.025" and rmse_cell(0.0251, None) == "0.025"
    assert rmse_cell(np.nan, 0.9) == "—" and rmse_cell(None, None) == "—"
    paper = load_paper_tables()
    no_r2 = pd.DataFrame([{"env": "mountaincar", "dataset": "pure", "method": "PerSim", "agent": 1,
                           "rmse": 0.03, "r2_median": np.nan}])
    tex = prediction_latex(prediction_long(no_r2, paper), "mountaincar")
    assert "0.030 [0.025 (0.969)]" in tex and "nan" not in tex.lower()


def test_trials_on_disk_that_the_config_does_not_use_are_named():
    """A plain run after an overlay's (more N in data_scarcity.n_agents, or more trials) is told which
    trials on disk Tables 14-16 leave out; the trials it uses, and other directories, are not named."""
    from persim.reporting.scope import unused_trials

    dirs = ["results/quick/mountaincar/scarcity/n250_t0", "results/quick/cartpole/scarcity/n250_t1/",
            "results/quick/halfcheetah/scarcity/n250_t0", "results/quick/mountaincar/scarcity/n100_t1",
            "results/quick/mountaincar/scarcity/n50_t0", "results/quick/mountaincar/scarcity/n50_t2",
            "results/quick/mountaincar/scarcity/notes"]
    assert unused_trials(dirs, [50, 25], 2, 100) == ["n250_t0", "n250_t1", "n100_t1", "n50_t2"]
    assert unused_trials(dirs, [250, 100, 50, 25], 3, 100) == []
    assert unused_trials(dirs, [250, 100, 50], 2, None) == ["n50_t2"]  # no main run: n100_t0 would be trained
