"""The Snakemake DAG: paper-profile dry run, smoke run end to end, caching and selective reruns."""
import json
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import job_counts, snakemake

SMOKE = ["--configfile", "config/smoke.yaml"]
BEHAVIOURS = ("pure", "random")  # config/smoke.yaml: one policy-logged and the random dataset


def test_paper_profile_builds_its_dag(workflow_copy):
    start = time.perf_counter()
    res = snakemake(workflow_copy, "-n", "--configfile", "config/config.yaml")
    elapsed = time.perf_counter() - start
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout)
    print(f"paper profile: {counts.get('total')} jobs, dry run {elapsed:.1f} s")
    assert counts["agents"] == 3
    assert counts["train_policy"] == 5 + 5 + 4 + 3  # logging policies + one test policy per env
    assert counts["dataset"] == 3 * 4
    assert counts["train_simulator"] == 3 * 4 * 3  # PerSim, Vanilla and PE-TS CaDM
    assert counts["train_simulator_seed"] == 3 * 4 * 3 * 4  # reward seeds 2-5 retrain them (the authors' trials)
    assert counts["eval_prediction"] == counts["eval_reward"] == 3 * 4 * 3  # PerSim + 2 CaDM
    assert counts["train_policy_set"] == 3 * 4 * 6 + 3 * 2  # BCQ-P/A, CQL-P/A, MOReL-P/A; PerSim-BCQ-5/-CQL-5
    # one job evaluates the 6 policy methods of an (env, dataset); PerSim-BCQ-5/-CQL-5 one each
    assert counts["eval_policy_rewards"] == 3 * 4 and counts["eval_policy_reward"] == 3 * 2
    assert counts["comparison"] == 1 and "pending_tables" not in counts
    # Table 3: synthetic data of PerSim (random) per env, PerSim-BCQ-5 / -CQL-5 trained and evaluated
    assert counts["synthetic_trajectories"] == 3 and counts["table3"] == 1
    # Tables 12-13: 2 datasets x 4 fractions p; prediction of PerSim(p) + 2 CaDMs, reward also BCQ-P
    assert counts["unseen_simulator"] == 2 * 4 and counts["eval_prediction_unseen"] == 2 * (4 + 2)
    assert counts["eval_reward_unseen"] == 2 * (4 + 2) and counts["eval_policy_reward_unseen"] == 2
    # Tables 14-16: 3 envs x 4 N x 5 trials, each its own agents, dataset, 3 simulators and BCQ-P
    trials = 3 * 4 * 5
    assert counts["scarcity_agents"] == counts["scarcity_dataset"] == trials
    assert counts["scarcity_train_simulator"] == counts["scarcity_eval_reward"] == 3 * trials
    assert counts["scarcity_train_policy_set"] == counts["scarcity_eval_policy_reward"] == trials
    assert counts["eval_reward_true_env"] == 3
    assert "eval_reward_true_env_reference" not in counts  # its MPC rows plan at the paper's budget already
    assert counts["rank_cv"] == 3 and counts["figure_tsne"] == 3 and counts["figure_trajectories"] == 2
    assert elapsed < 60


def test_slurm_profile_builds_grouped_jobs(workflow_copy):
    import shutil

    from conftest import REPO

    shutil.copytree(REPO / "profiles", workflow_copy / "profiles")
    res = snakemake(workflow_copy, "predictions", "-n", "--profile", "profiles/slurm", "--configfile",
                    "config/smoke.yaml")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert "group" in res.stdout and "predictions" in res.stdout  # eval_prediction jobs share Slurm jobs


@pytest.mark.slow
def test_smoke_run_produces_every_output(smoke_run):
    out = smoke_run / "results/smoke"
    for env in ("mountaincar", "cartpole", "halfcheetah"):
        for b in BEHAVIOURS:
            assert (out / env / "datasets" / f"{b}.parquet").is_file()
            assert (out / "logs" / env / "datasets" / f"{b}.log").is_file()
    table5 = pd.read_csv(out / "tables/table5.csv")
    assert len(table5) == 3 * 2 * 7 and table5["paper"].notna().all()
    assert (out / "tables/table5.tex").read_text().count(r"\\") == 7  # header + 6 rows
    returns = pd.read_csv(out / "tables/policy_returns.csv")
    assert len(returns) == 17 and returns["mean_return"].notna().all()
    assert (returns["target_gap"] >= 0).all() and (returns["off_target"] == (returns["target_gap"] > 0.25)).all()
    if returns["off_target"].any():  # toy policies miss the targets: the report lists them
        assert "Policies off the paper's target" in (out / "report/comparison.html").read_text()
    # the True env + MPC reference runs evaluation.reward.true_env_episodes, the learned simulators n_episodes
    assert set(pd.read_csv(out / "cartpole/true_mpc/reward.csv")["n_episodes"]) == {2}
    assert set(pd.read_csv(out / "cartpole/random/persim/reward.csv")["n_episodes"]) == {1}
    stats = json.loads((out / "cartpole/policies/test.json").read_text())
    assert {"settings_hash", "seed", "git", "versions"} <= set(stats["provenance"])
    log = (out / "logs/cartpole/policies/logging0.log").read_text()
    assert "ETA" in log and "greedy return" in log
    assert not (smoke_run / "d3rlpy_logs").exists()
    long = pd.read_csv(out / "tables/prediction_long.csv")
    assert long[~long["dataset"].isin(BEHAVIOURS)]["ours"].isna().all()  # not run: no made-up values
    long = long[long["dataset"].isin(BEHAVIOURS)]
    for method in ("PerSim", "Vanilla CaDM", "PE-TS CaDM"):
        ours = long[long["method"] == method]
        assert len(ours) == 3 * 2 * 5 * 2 and ours["ours"].notna().all() and ours["paper"].notna().all(), method
    tex = (out / "tables/table7_cartpole.tex").read_text()
    assert "Random & Vanilla CaDM & — [" not in tex and "Random & PE-TS CaDM &" in tex
    assert "Pure-eps-20 & Vanilla CaDM & — [" in tex  # not run in the smoke profile
    reward = pd.read_csv(out / "tables/reward_long.csv", keep_default_na=False, na_values=[""])
    learned = reward[(reward["method"] != "True env+MPC") & reward["dataset"].isin(BEHAVIOURS)
                     & ~reward["method"].str.endswith("(reference budget)")]
    assert set(learned["method"]) == {"PerSim", "Vanilla CaDM", "PE-TS CaDM", "BCQ-P", "BCQ-A", "CQL-P", "CQL-A",
                                      "MOReL-P", "MOReL-A"}
    assert len(learned) == 3 * 2 * 5 * 9 and learned["ours"].notna().all() and learned["paper"].notna().all()
    true_env = reward[reward["method"] == "True env+MPC"]
    assert len(true_env) == 3 * 5 and true_env["ours"].notna().all()  # HalfCheetah via MuJoCo state copies
    assert "True env+MPC" in (out / "tables/table10_cartpole.tex").read_text()
    # MountainCar's True env + MPC once more at the reference budget (smoke: 20 x 5), beside the paper's
    reference = reward[reward["method"] == "True env+MPC (reference budget)"]
    assert set(reference["env"]) == {"mountaincar"} and len(reference) == 5 and reference["ours"].notna().all()
    paired = reference.merge(true_env[true_env["env"] == "mountaincar"], on="agent", suffixes=("", "_true"))
    assert len(paired) == 5 and (paired["paper"] == paired["paper_true"]).all()  # the paper's True env + MPC
    ref_prov = json.loads((out / "mountaincar/true_mpc_reference/reward.csv.meta.json").read_text())
    assert (ref_prov["settings"]["mpc"]["n_candidates"], ref_prov["settings"]["mpc"]["horizon"]) == (20, 5)
    tex9 = (out / "tables/table9_mountaincar.tex").read_text()
    assert ("The rows marked 'reference budget' (True env+MPC, PerSim) plan at MountainCar 20 x 5 (candidates x "
            "horizon); PerSim there with 1 MPC episodes per seed.") in tex9
    # PerSim once more at the reference budget on every MountainCar dataset, beside the paper's PerSim
    persim_ref = reward[reward["method"] == "PerSim (reference budget)"]
    assert set(persim_ref["env"]) == {"mountaincar"} and len(persim_ref) == 5 * 4  # the paper's PerSim cells
    ran = persim_ref["dataset"].isin(BEHAVIOURS)
    assert ran.sum() == 5 * len(BEHAVIOURS) and persim_ref[ran]["ours"].notna().all()
    assert persim_ref[~ran]["ours"].isna().all()  # datasets the smoke profile does not build
    persim = reward[(reward["method"] == "PerSim") & (reward["env"] == "mountaincar")]
    paired = persim_ref.merge(persim, on=["dataset", "agent"], suffixes=("", "_main"))
    assert len(paired) == len(persim_ref) and (paired["paper"] == paired["paper_main"]).all()
    persim_prov = json.loads((out / "mountaincar/random/persim/reward_reference.csv.meta.json").read_text())
    assert (persim_prov["settings"]["mpc"]["n_candidates"], persim_prov["settings"]["mpc"]["horizon"]) == (20, 5)
    assert persim_prov["settings"]["method_label"] == "PerSim (reference budget)"
    # PerSim plans 2 episodes per seed on MountainCar (evaluation.reward.method_episodes), every other
    # method and its row at the reference budget the run's 1
    episodes = {m: pd.read_csv(out / f"mountaincar/random/{m}/reward.csv")["n_episodes"].unique().tolist()
                for m in ("persim", "cadm_vanilla")}
    assert episodes == {"persim": [2], "cadm_vanilla": [1]}
    assert pd.read_csv(out / "mountaincar/random/persim/reward_reference.csv")["n_episodes"].unique().tolist() == [1]
    assert "MPC episodes (PerSim: 2 on MountainCar) / 2 policy episodes" in tex9
    for other in ("table14.tex", "table10_cartpole.tex", "table2.tex"):  # no such row there: not in the caption
        assert "reference budget" not in (out / "tables" / other).read_text(), other
    policy_rows = pd.read_csv(out / "cartpole/pure/cql_a/reward.csv")
    assert list(policy_rows["n_episodes"].unique()) == [2] and (policy_rows["n_seeds"] == 2).all()
    table2 = pd.read_csv(out / "tables/table2.csv", keep_default_na=False, na_values=[""])
    assert set(zip(table2["env"], table2["agent"].astype(int))) == {
        ("mountaincar", 1), ("mountaincar", 4), ("mountaincar", 5), ("cartpole", 1), ("cartpole", 4),
        ("cartpole", 5), ("halfcheetah", 1), ("halfcheetah", 2), ("halfcheetah", 3)}
    assert "Table 1:" in (out / "tables/table1.tex").read_text()
    for t in (3, 12, 13, 14, 15, 16):  # the extended experiments: ours beside every paper cell of the run's N
        table = pd.read_csv(out / f"tables/table{t}.csv", keep_default_na=False, na_values=[""])
        run = table["n_train_agents"].isin([25] if t >= 14 else [500])  # smoke: N = 25 only in Tables 14-16
        # and the main run (8 agents) as one trial of N = 8 (data_scarcity.main_run_trial): no paper cell there
        main = (table["n_train_agents"] == 8) if t >= 14 else pd.Series(False, index=table.index)
        if t in (12, 13):  # smoke: random data, p = 1.0 and 0.1 (and the baselines)
            run &= (table["dataset"] == "random") & ~table["method"].isin(["PerSim(p=0.5)", "PerSim(p=0.25)"])
        assert len(table) and table.loc[~main, "paper"].notna().all() and table.loc[run | main, "ours"].notna().all(), t
        assert table.loc[~run & ~main, "ours"].isna().all()  # N not run: empty, never made up
        if t >= 14:  # the main run's cells are its own reward files, one trial, no std
            ds = {14: "mountaincar/random", 15: "cartpole/pure", 16: "halfcheetah/random"}[t]
            own = pd.concat(pd.read_csv(out / f"{ds}/{m}/reward.csv") for m in ("persim", "cadm_vanilla", "cadm_pets",
                                                                                   "bcq_p"))
            cells = table[main].merge(own, on=["method", "agent"])
            assert len(cells) == 20 and np.allclose(cells["ours"], cells["reward"]), t
            assert (cells["n_trials"] == 1).all() and cells["ours_std"].isna().all(), t
    assert "This run (smoke): 8 training agents" in (out / "tables/table3.tex").read_text()
    assert "BCQ/CQL gradient updates per policy (paper 550,000): MountainCar 20," in (
        out / "tables/table3.tex").read_text()  # the baselines' reduced training, stated
    assert "synthetic trajectories planned at (candidates x horizon) MountainCar" in (
        out / "tables/table3.tex").read_text()
    assert ("N = 25 (config data\\_scarcity.n\\_agents; the paper: 250, 100, 50, 25) with 2 trials per N"
            in (out / "tables/table14.tex").read_text())
    # every table says which training settings differ from the paper profile (persim.scale)
    for tex in ("table1", "table7_cartpole", "table10_cartpole", "table3", "table13", "table14"):
        assert "Training settings that differ from the paper profile" in (out / f"tables/{tex}.tex").read_text(), tex
    assert "PE-TS CaDM — n\\_members 2 (5), n\\_particles 4 (20)" in (out / "tables/table7_cartpole.tex").read_text()
    assert "CartPole policy training settings that differ" in (out / "tables/table5.tex").read_text()
    for tex in ("table1", "table12"):  # the prediction test's settings
        assert "n\\_rollouts 6 (200)" in (out / f"tables/{tex}.tex").read_text(), tex
    report = (out / "report/comparison.md").read_text()
    assert "Training settings that differ from the paper profile" in report.split("## Summary")[0]
    assert "not run in this profile" in report.split("## Table 14")[1]  # smoke trains N = 25 only
    assert "N = 8 is this run's main experiment" in report.split("## Table 14")[1]
    tex14 = (out / "tables/table14.tex").read_text()  # smoke retrains per seed: said of the main run, not the trials
    assert "averages its seeds' own retrained simulators" in tex14 and "own retrained simulator (the" not in tex14
    synthetic = pd.read_parquet(out / "cartpole/random/persim/synthetic.parquet")
    assert synthetic["agent_id"].nunique() == 5 and (synthetic["t"] == 0).sum() == 5 * 2  # 2 per test agent
    scarce = [pd.read_parquet(out / f"mountaincar/scarcity/n25_t{k}/agents.parquet") for k in (0, 1)]
    assert all(len(a) == 25 and a["test_agent"].tolist()[:5] == [1, 2, 3, 4, 5] for a in scarce)
    assert (scarce[0]["gravity"].iloc[:5] == scarce[1]["gravity"].iloc[:5]).all()  # the same test agents
    assert not np.allclose(scarce[0]["gravity"].iloc[5:], scarce[1]["gravity"].iloc[5:])  # re-sampled per trial
    unseen = pd.read_csv(out / "tables/table12.csv")
    ours = unseen[unseen["ours"].notna()]
    assert set(ours["method"]) == {"PerSim(p=1.0)", "PerSim(p=0.1)", "Vanilla CaDM", "PE-TS CaDM"}
    summary = pd.read_csv(out / "report/comparison_summary.csv")
    overall = summary[summary["table"].astype(str) == "overall"].iloc[0]
    # Tables 6-11 (3 envs x 2 datasets x 5 agents x 12 methods + True env+MPC) and every cell of the
    # extended tables whose paper value exists in the smoke run's settings (Tables 14-16: N = 25 only);
    # of Table 3 only PerSim-BCQ-5 / -CQL-5: its -P / -A rows are Table 9-11 cells counted there
    extended = 3 * 2 * 5 + 1 * 4 * 5 + 1 * 5 * 5 + 3 * 4 * 5  # Tables 12-13: random data, p = 1.0 and 0.1
    assert overall["n_compared"] == 3 * 2 * 5 * (3 + 9) + 3 * 5 + extended
    # ours has 3 x 4 x 5 cells more: the main run's N = 8 in Tables 14-16, an N the paper does not have
    assert overall["n_ours"] == overall["n_compared"] + 3 * 4 * 5
    reference_row = summary[summary["table"] == "reference budget"].iloc[0]
    # counted apart from Table 9: True env + MPC's 5 cells, PerSim's 4 x 5 (2 datasets run)
    assert (reference_row["n_cells"], reference_row["n_compared"]) == (5 + 4 * 5, 5 + 2 * 5)
    theirs = summary[summary["table"] == "ours vs authors' code"].iloc[0]  # MountainCar Random, CartPole Pure: all run
    assert (theirs["n_cells"], theirs["n_compared"]) == (20, 20)
    assert set(summary["table"].astype(str)) >= {str(t) for t in (1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)}
    assert "Reproduction vs. paper" in (out / "report/comparison.html").read_text()
    claims = pd.read_csv(out / "report/claims.csv").set_index("claim")
    assert list(claims.index) == ["i", "ii", "iii", "iv", "v", "vi", "vii"]
    assert claims.loc["i", "n_units"] == 3 * 2 * 5 and claims.loc["v", "n_units"] == 3 * 5 * 2
    assert claims.loc["vi", "n_units"] == 3 * 5 and claims.loc["vii", "n_units"] == 1 * 2 * 5
    assert (claims["verdict"] != "not run").all()
    assert claims.loc["iv", "n_units"] == 1 + 2 + 2  # one unit per covariate: gravity; force, length; mass, damping
    assert "The paper's claims" in (out / "report/comparison.html").read_text()
    intervals = pd.read_csv(out / "report/reward_intervals.csv")
    assert (intervals["n_runs"] == 2).all()  # smoke: 2 seeds, too few for a bootstrap CI
    assert intervals[["mean_ci_low", "mean_ci_high", "iqm_ci_low", "iqm_ci_high"]].isna().all().all()
    for sidecar in ("cartpole/random/cadm_pets/model.pt", "cartpole/random/bcq_a/policy.pt"):
        prov = json.loads((out / f"{sidecar}.meta.json").read_text())
        assert {"settings_hash", "seed", "git", "versions", "inputs", "trained_with"} <= set(prov)
    # the policy methods of one (env, dataset) are evaluated in one job, each reward with its own record
    cql = json.loads((out / "cartpole/random/cql_a/reward.csv.meta.json").read_text())
    assert cql["rule"] == "eval_policy_rewards" and cql["outputs"] == ["results/smoke/cartpole/random/cql_a/reward.csv"]
    assert cql["settings"]["method"] == "cql_a" and cql["seed"] is not None
    prov = json.loads((out / "halfcheetah/pure/persim/model.pt.meta.json").read_text())
    assert prov["trained_with"]["rank"] == 15 and prov["trained_with"]["n_members"] == 2  # what it trained with
    for env in ("mountaincar", "cartpole", "halfcheetah"):
        assert (out / f"figures/fig5_tsne_{env}.png").stat().st_size > 10_000
        cv = pd.read_csv(out / env / "rank_cv.csv")
        assert list(cv["rank"]) == [3, 5] and cv["selected"].sum() == 1
    assert (out / "figures/fig4_trajectories_cartpole.png").is_file()


@pytest.mark.slow
def test_second_run_does_nothing(smoke_run):
    res = snakemake(smoke_run, "-n", *SMOKE)
    assert res.returncode == 0
    assert job_counts(res.stdout) == {}, res.stdout[-2000:]
    assert "Nothing to be done" in res.stdout + res.stderr


@pytest.mark.slow
def test_dataset_setting_reruns_only_its_branch(smoke_run):
    override = smoke_run / "eps.yaml"
    override.write_text(yaml.safe_dump({"datasets": {"epsilon": {"pure": 0.05}}}))
    res = snakemake(smoke_run, "-n", *SMOKE, "--configfile", "config/smoke.yaml", str(override))
    assert res.returncode == 0, res.stderr[-2000:]
    # the dataset, and per env: PerSim, 2 CaDM, 4 BCQ/CQL, 2 MOReL trained on it and their evaluations
    # (MountainCar's PerSim also at the reference budget); CartPole's data-scarcity trials use pure data too (2 trials: dataset, 3 simulators, BCQ-P)
    assert job_counts(res.stdout) == {"dataset": 3, "table5": 1, "train_simulator": 9, "train_simulator_seed": 9,
                                      "train_policy_set": 18, "eval_prediction": 9,
                                      "eval_reward": 9, "eval_reward_reference": 1, "eval_policy_rewards": 3,
                                      "prediction_tables": 1, "reward_tables": 1, "comparison": 1, "all": 1,
                                      "scarcity_dataset": 2, "scarcity_train_simulator": 6,
                                      "scarcity_train_policy_set": 2, "scarcity_eval_reward": 6,
                                      "scarcity_eval_policy_reward": 2, "scarcity_tables": 1, "total": 85}
    assert "pure.parquet" in res.stdout and "random.parquet" not in res.stdout.split("Job stats")[0]


@pytest.mark.slow
def test_policy_setting_reruns_policy_and_downstream(smoke_run):
    override = smoke_run / "pol.yaml"
    override.write_text(yaml.safe_dump({"policies": {"cartpole": {"eval_episodes": 3}}}))
    res = snakemake(smoke_run, "-n", *SMOKE, "--configfile", "config/smoke.yaml", str(override))
    counts = job_counts(res.stdout)
    # 6 cartpole policies; the policy-logged cartpole dataset and every method trained on it; the
    # test rollouts (test policy) and so both cartpole datasets' prediction evaluations; the tables
    assert counts == {"train_policy": 6, "dataset": 1, "table5": 1, "policy_returns": 1, "train_simulator": 3,
                      "train_simulator_seed": 3, "train_policy_set": 6, "test_rollouts": 1,
                      "eval_prediction": 2 * 3, "eval_reward": 3, "eval_policy_rewards": 1,
                      "figure_trajectories": 1, "prediction_tables": 1, "reward_tables": 1, "comparison": 1,
                      "all": 1, "scarcity_dataset": 2, "scarcity_train_simulator": 6, "scarcity_train_policy_set": 2,
                      "scarcity_eval_reward": 6, "scarcity_eval_policy_reward": 2, "scarcity_tables": 1, "total": 56}


@pytest.mark.slow
def test_persim_setting_reruns_only_persim_and_its_evaluations(smoke_run):
    override = smoke_run / "persim.yaml"
    override.write_text(yaml.safe_dump({"persim": {"epochs": 3}}))
    res = snakemake(smoke_run, "-n", *SMOKE, "--configfile", "config/smoke.yaml", str(override))
    # ... and what is built on PerSim: its synthetic data and PerSim-BCQ-5 / -CQL-5 (Table 3), PerSim(p)
    # (Tables 12-13; smoke: random data, 2 fractions), PerSim in every data-scarcity trial (Tables 14-16);
    # MountainCar's PerSim at the reference budget
    assert job_counts(res.stdout) == {"train_simulator": 6, "train_simulator_seed": 6, "eval_prediction": 6,
                                      "eval_reward": 6, "eval_reward_reference": 2,
                                      "figure_tsne": 3, "figure_trajectories": 2, "prediction_tables": 1,
                                      "reward_tables": 1, "comparison": 1, "all": 1,
                                      "synthetic_trajectories": 3, "train_policy_set": 6, "eval_policy_reward": 6,
                                      "table3": 1, "unseen_simulator": 2, "eval_prediction_unseen": 2,
                                      "eval_reward_unseen": 2, "unseen_tables": 1, "scarcity_train_simulator": 6,
                                      "scarcity_eval_reward": 6, "scarcity_tables": 1, "total": 71}


@pytest.mark.slow
def test_baseline_setting_reruns_only_that_baseline(smoke_run):
    override = smoke_run / "cql.yaml"
    override.write_text(yaml.safe_dump({"baselines": {"cql": {"common": {"n_steps": 25}}}}))
    res = snakemake(smoke_run, "-n", *SMOKE, "--configfile", "config/smoke.yaml", str(override))
    # CQL-P/A on 2 datasets x 3 envs and PerSim-CQL-5 (same CQL settings) per env; the policy
    # evaluations of those 6 (env, dataset) pairs (one job each, all methods) and of PerSim-CQL-5; those
    # jobs also rewrite BCQ-P's reward files, which Tables 14-16 read as the main run's trial (main_run_trial)
    assert job_counts(res.stdout) == {"train_policy_set": 12 + 3, "eval_policy_rewards": 6, "eval_policy_reward": 3,
                                      "reward_tables": 1, "table3": 1, "scarcity_tables": 1, "comparison": 1, "all": 1,
                                      "total": 29}
    outputs = [line for line in res.stdout.split("Job stats")[0].splitlines() if line.strip().startswith("output:")]
    assert not any("bcq_" in line and "policy.pt" in line for line in outputs)  # no BCQ retrained


@pytest.mark.slow
def test_editing_a_module_reruns_the_rules_that_import_it(smoke_run):
    module = smoke_run / "persim/evaluation/prediction.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# edited\n")
        res = snakemake(smoke_run, "-n", *SMOKE)
        counts = job_counts(res.stdout)
        assert counts == {"test_rollouts": 3, "eval_prediction": 18, "figure_trajectories": 2, "prediction_tables": 1,
                          "test_rollouts_unseen": 1, "eval_prediction_unseen": 4, "unseen_tables": 1,
                          "comparison": 1, "all": 1, "total": 32}
    finally:
        module.write_text(original)


@pytest.mark.slow
def test_editing_a_baseline_module_reruns_only_that_baseline(smoke_run):
    module = smoke_run / "persim/baselines/cadm.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# edited\n")
        counts = job_counts(snakemake(smoke_run, "-n", *SMOKE).stdout)
        assert counts == {"train_simulator": 12, "train_simulator_seed": 12, "eval_prediction": 12, "eval_reward": 12,
                          "prediction_tables": 1, "reward_tables": 1, "comparison": 1, "all": 1,
                          "eval_prediction_unseen": 2, "eval_reward_unseen": 2, "unseen_tables": 1,
                          "scarcity_train_simulator": 12, "scarcity_eval_reward": 12, "scarcity_tables": 1, "total": 82}
    finally:
        module.write_text(original)


@pytest.mark.slow
def test_trace_prints_the_chain_of_a_table_cell(smoke_run):
    from persim.trace import format_chain

    out = smoke_run / "results/smoke"
    import os

    cwd = os.getcwd()
    os.chdir(smoke_run)
    try:
        text = format_chain("results/smoke/tables/reward_long.csv",
                            {"env": "cartpole", "dataset": "random", "method": "PE-TS CaDM", "agent": "2"})
    finally:
        os.chdir(cwd)
    for rule in ("reward_tables", "eval_reward", "train_simulator", "dataset", "agents"):
        assert f"rule {rule} " in text, text
    assert "cartpole/random/cadm_pets/reward.csv" in text and "persim/reward.csv" not in text
    assert (out / "cartpole/random/cadm_pets/model.pt").exists()


@pytest.mark.slow
def test_cross_validated_rank_feeds_training(smoke_run):
    override = smoke_run / "cv.yaml"
    override.write_text(yaml.safe_dump({"persim": {"rank_source": "cv"}}))
    res = snakemake(smoke_run, "-n", *SMOKE, "--configfile", "config/smoke.yaml", str(override))
    counts = job_counts(res.stdout)
    assert counts["train_simulator"] == 6 and "rank_cv" not in counts  # CV table reused, PerSim retrained
    assert counts["train_simulator_seed"] == 6  # and so are its retrained reward seeds
    jobs = {rule: [j.split("rule ")[0] for j in res.stdout.split(f"rule {rule}:")[1:]]
            for rule in ("train_simulator", "train_simulator_seed")}
    persim_jobs = [j for j in jobs["train_simulator"] if "/persim/model.pt" in j]
    assert len(persim_jobs) == 6 and all("rank_cv.csv" in j for j in persim_jobs + jobs["train_simulator_seed"])


@pytest.mark.slow
def test_readme_code_blocks_run_as_written(smoke_run):
    """Every ```python block of the README runs against the smoke outputs (paths of the quick
    profile mapped to the smoke profile's)."""
    import re
    import subprocess
    import sys

    from conftest import REPO

    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    for block in blocks:
        code = textwrap.dedent(block).replace("results/quick/", "results/smoke/")
        res = subprocess.run([sys.executable, "-c", code], cwd=smoke_run, capture_output=True, text=True,
                             timeout=600, env={**__import__("os").environ, "PYTHONPATH": str(smoke_run)})
        assert res.returncode == 0, (code, res.stderr[-3000:])


@pytest.mark.slow
def test_served_and_unserved_jobs_write_the_same_results(smoke_run, tmp_path):
    """The smoke run's jobs ran in forks of the job server; rerun a simulator's training and
    prediction evaluation and a d3rlpy policy set in fresh processes: same numbers, same weights."""
    import shutil

    import torch

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run, symlinks=True)
    base = "results/smoke/mountaincar/random"
    targets = [f"{base}/persim/prediction.csv", f"{base}/bcq_p/policy.pt"]
    for name in ("persim/model.pt", "persim/history.csv", "persim/prediction.csv", "bcq_p/policy.pt"):
        (run / base / name).unlink()
    res = snakemake(run, "--cores", "2", *targets, *SMOKE, job_server=False)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    # a real run prints its job stats on stderr (a dry run on stdout)
    assert job_counts(res.stdout + res.stderr) == {"train_simulator": 1, "eval_prediction": 1,
                                                   "train_policy_set": 1, "total": 3}
    pd.testing.assert_frame_equal(pd.read_csv(run / targets[0]), pd.read_csv(smoke_run / targets[0]))
    for name in ("persim/model.pt", "bcq_p/policy.pt"):
        fresh, served = (_tensors(torch.load(r / base / name, weights_only=False)) for r in (run, smoke_run))
        assert fresh.keys() == served.keys() and fresh
        assert all(torch.equal(fresh[k], served[k]) for k in fresh), name


def _tensors(obj, prefix=""):
    """Every tensor of a nested checkpoint, by its path (d3rlpy weights, stored as bytes, opened)."""
    import io

    import torch

    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    if isinstance(obj, bytes):
        obj = torch.load(io.BytesIO(obj), weights_only=False)
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    return {k: v for key, sub in items for k, v in _tensors(sub, f"{prefix}/{key}").items()}


def test_a_subset_of_envs_reuses_their_results_and_names_the_others(smoke_run, tmp_path):
    """``make quick ENVS="cartpole"``: the run asks only for CartPole's outputs (no Tables 12-13, which
    are MountainCar's), retrains nothing the full run made, and its report names what it left out."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run, symlinks=True)
    dry = snakemake(run, "-n", "--forceall", *SMOKE, "--config", "envs=[cartpole]")
    assert dry.returncode == 0, (dry.stdout + dry.stderr)[-3000:]
    assert "mountaincar" not in dry.stdout and "halfcheetah" not in dry.stdout and "unseen" not in dry.stdout
    res = snakemake(run, "--cores", "2", *SMOKE, "--config", "envs=[cartpole]")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    ran = job_counts(res.stdout + res.stderr)
    assert ran and not [r for r in ran if r.startswith(("train", "eval", "dataset"))], ran  # tables only
    report = run / "results/smoke/report"
    assert "MountainCar, HalfCheetah not run (config envs)" in (report / "comparison.md").read_text().splitlines()[0]
    cells = pd.read_csv(report / "comparison.csv")
    assert set(cells.dropna(subset=["ours"])["env"]) == {"cartpole"}
