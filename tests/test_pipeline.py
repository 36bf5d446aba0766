"""The Snakemake DAG: paper-profile dry run, smoke run end to end, caching and selective reruns."""
import json
import time

import pandas as pd
import pytest
import yaml

from conftest import copy_workflow, job_counts, snakemake

SMOKE = ["--configfile", "config/smoke.yaml"]


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
    assert counts["train_persim"] == counts["eval_prediction"] == counts["eval_reward"] == 3 * 4
    assert counts["eval_reward_true_env"] == 2  # MountainCar, CartPole
    assert counts["rank_cv"] == 3 and counts["figure_tsne"] == 3 and counts["figure_trajectories"] == 2
    assert elapsed < 60


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    wf = copy_workflow(tmp_path_factory.mktemp("smoke") / "wf")
    start = time.perf_counter()
    res = snakemake(wf, "--cores", "2", *SMOKE, timeout=1200)
    print(f"smoke run: {time.perf_counter() - start:.0f} s")
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    return wf


@pytest.mark.slow
def test_smoke_run_produces_every_output(smoke_run):
    out = smoke_run / "results/smoke"
    for env in ("mountaincar", "cartpole", "halfcheetah"):
        for b in ("pure", "random", "pure_eps20", "pure_eps40"):
            assert (out / env / "datasets" / f"{b}.parquet").is_file()
            assert (out / "logs" / env / "datasets" / f"{b}.log").is_file()
    table5 = pd.read_csv(out / "tables/table5.csv")
    assert len(table5) == 3 * 4 * 7 and table5["paper"].notna().all()
    assert (out / "tables/table5.tex").read_text().count(r"\\") == 13  # header + 12 rows
    returns = pd.read_csv(out / "tables/policy_returns.csv")
    assert len(returns) == 17 and returns["mean_return"].notna().all()
    stats = json.loads((out / "cartpole/policies/test.json").read_text())
    assert {"settings_hash", "seed", "git", "versions"} <= set(stats["provenance"])
    log = (out / "logs/cartpole/policies/logging0.log").read_text()
    assert "ETA" in log and "greedy return" in log
    assert not (smoke_run / "d3rlpy_logs").exists()
    long = pd.read_csv(out / "tables/prediction_long.csv")
    ours = long[long["method"] == "PerSim"]
    assert len(ours) == 3 * 4 * 5 * 2 and ours["ours"].notna().all() and ours["paper"].notna().all()
    assert long[long["method"] != "PerSim"]["ours"].isna().all()  # not implemented: no made-up values
    tex = (out / "tables/table7_cartpole.tex").read_text()
    assert "Vanilla CaDM & — [" in tex
    reward = pd.read_csv(out / "tables/reward_long.csv")
    persim = reward[reward["method"] == "PerSim"]
    assert len(persim) == 3 * 4 * 5 and persim["ours"].notna().all() and persim["paper"].notna().all()
    true_env = reward[reward["method"] == "True env+MPC"]
    assert true_env[true_env["env"] != "halfcheetah"]["ours"].notna().all()
    assert true_env[true_env["env"] == "halfcheetah"]["ours"].isna().all()
    assert (reward[~reward["method"].isin(["PerSim", "True env+MPC"])]["ours"].isna()).all()
    assert "True env+MPC" in (out / "tables/table10_cartpole.tex").read_text()
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
    override.write_text(yaml.safe_dump({"datasets": {"epsilon": {"pure_eps20": 0.25}}}))
    res = snakemake(smoke_run, "-n", *SMOKE, "--configfile", "config/smoke.yaml", str(override))
    assert res.returncode == 0, res.stderr[-2000:]
    assert job_counts(res.stdout) == {"dataset": 3, "table5": 1, "train_persim": 3, "eval_prediction": 3,
                                      "eval_reward": 3, "prediction_tables": 1, "reward_tables": 1, "all": 1,
                                      "total": 16}
    assert "pure_eps20.parquet" in res.stdout and "pure_eps40.parquet" not in res.stdout.split("Job stats")[0]


@pytest.mark.slow
def test_policy_setting_reruns_policy_and_downstream(smoke_run):
    override = smoke_run / "pol.yaml"
    override.write_text(yaml.safe_dump({"policies": {"cartpole": {"eval_episodes": 3}}}))
    res = snakemake(smoke_run, "-n", *SMOKE, "--configfile", "config/smoke.yaml", str(override))
    counts = job_counts(res.stdout)
    # 6 cartpole policies; the 3 non-random cartpole datasets and their simulators; the test
    # rollouts (test policy) and so all 4 cartpole prediction evaluations; the tables
    assert counts == {"train_policy": 6, "dataset": 3, "table5": 1, "policy_returns": 1, "train_persim": 3,
                      "test_rollouts": 1, "eval_prediction": 4, "eval_reward": 3, "figure_trajectories": 1,
                      "prediction_tables": 1, "reward_tables": 1, "all": 1, "total": 26}


@pytest.mark.slow
def test_persim_setting_reruns_only_persim_and_its_evaluations(smoke_run):
    override = smoke_run / "persim.yaml"
    override.write_text(yaml.safe_dump({"persim": {"epochs": 3}}))
    res = snakemake(smoke_run, "-n", *SMOKE, "--configfile", "config/smoke.yaml", str(override))
    assert job_counts(res.stdout) == {"train_persim": 12, "eval_prediction": 12, "eval_reward": 12,
                                      "figure_tsne": 3, "figure_trajectories": 2, "prediction_tables": 1,
                                      "reward_tables": 1, "all": 1, "total": 44}


@pytest.mark.slow
def test_editing_a_module_reruns_the_rules_that_import_it(smoke_run):
    module = smoke_run / "persim/evaluation/prediction.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# edited\n")
        res = snakemake(smoke_run, "-n", *SMOKE)
        counts = job_counts(res.stdout)
        assert counts == {"test_rollouts": 3, "eval_prediction": 12, "figure_trajectories": 2, "prediction_tables": 1,
                          "all": 1, "total": 19}
    finally:
        module.write_text(original)


@pytest.mark.slow
def test_cross_validated_rank_feeds_training(smoke_run):
    override = smoke_run / "cv.yaml"
    override.write_text(yaml.safe_dump({"persim": {"rank_source": "cv"}}))
    res = snakemake(smoke_run, "-n", *SMOKE, "--configfile", "config/smoke.yaml", str(override))
    counts = job_counts(res.stdout)
    assert counts["train_persim"] == 12 and "rank_cv" not in counts  # CV table reused, training redone
    assert "rank_cv.csv" in res.stdout.split("rule train_persim")[1]
