"""The cost estimate (persim.cost): work from settings, calibration, scheduling, the CLI."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from conftest import REPO
from persim.cost.__main__ import main as cost_main
from persim.cost.calibrate import (CacheError, CalibrationCache, Calibrator, kernel_id, mpc_steps,
                                   short_and_long)
from persim.cost.estimate import (JobCost, job_costs, job_group, largest_groups, recorded_run, stage_of, stage_table,
                                  wall_time)
from persim.cost.jobs import load_jobs
from persim.cost.lengths import dataset_length_fraction, length_fraction
from persim.cost.schedule import Task, critical_path, makespan
from persim.cost.work import SCHEDULER, Kernel, job_work, overhead_kernel, policy_net, run_start, work_fields
from persim.envs import get_spec
from persim.methods import REGISTRY, get_method
from persim.reporting.paper import load_paper_tables

SMOKE = str(REPO / "config" / "smoke.yaml")


@pytest.fixture(scope="module")
def smoke_jobs():
    import os
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return load_jobs([SMOKE])
    finally:
        os.chdir(cwd)


def test_largest_groups_sum_every_dataset_and_trial_of_a_kind():
    from persim.cost.jobs import Job

    def cost(rule, seconds, **wildcards):
        return JobCost(Job(0, rule, wildcards, {}, 1, None), seconds, seconds, False, stage_of(rule))

    costs = [cost("eval_reward", 30, env="mountaincar", behaviour="pure", method="cadm_pets"),
             cost("eval_reward", 20, env="mountaincar", behaviour="random", method="cadm_pets"),
             cost("eval_reward", 40, env="mountaincar", behaviour="pure", method="persim"),
             cost("train_policy_set", 8, env="cartpole", behaviour="pure", pmethod="bcq_a"),
             cost("report", 2)]
    assert job_group(costs[3].job) == "train_policy_set cartpole bcq_a" and job_group(costs[4].job) == "report"
    rows = largest_groups(costs, n=3)
    assert [(r["group"], r["jobs"], r["estimate_s"]) for r in rows] == [
        ("eval_reward mountaincar cadm_pets", 2, 50), ("eval_reward mountaincar persim", 1, 40),
        ("train_policy_set cartpole bcq_a", 1, 8)]
    assert rows[0]["share"] == pytest.approx(50 / 100)
    by_rule = largest_groups(costs, n=2, key=lambda job: job.rule)  # the CLI's "largest rules"
    assert [(r["group"], r["estimate_s"]) for r in by_rule] == [("eval_reward", 90), ("train_policy_set", 8)]


def test_makespan_follows_dependencies_cores_and_gpus():
    chain = [Task(10, 1, False, ()), Task(5, 1, False, (0,))]
    assert makespan(chain, cores=4) == 15  # a chain cannot use more cores
    wide = [Task(10, 1, False, ()) for _ in range(4)]
    assert makespan(wide, cores=2) == 20 and makespan(wide, cores=4) == 10
    # the long chain starts first: 0 -> 2 (critical path 16) before the short job 1
    mixed = [Task(10, 1, False, ()), Task(5, 1, False, ()), Task(6, 1, False, (0,))]
    assert critical_path(mixed) == [16, 5, 6]
    assert makespan(mixed, cores=2) == 16
    gpu = [Task(4, 1, True, ()) for _ in range(3)]
    assert makespan(gpu, cores=8, gpus=1) == 12 and makespan(gpu, cores=8, gpus=3) == 4
    assert makespan([Task(3, 8, False, ())], cores=2) == 3  # more threads than cores: all cores, not a hang


def test_every_method_declares_the_config_fields_its_training_grows_with():
    for spec in REGISTRY:
        fields = work_fields(spec.name)
        assert fields, f"{spec.name}: its module declares no WORK_FIELDS"
        known = {f.name for f in dataclasses.fields(spec.make_config({}, "cartpole", 200))}
        assert set(fields) <= known, f"{spec.name}: {set(fields) - known} are not fields of its config"
        assert set(fields.values()) <= {"pass", "step"}


def test_job_start_up_is_a_served_fork_when_the_job_server_is_on(smoke_jobs, monkeypatch):
    jobs, config = smoke_jobs
    monkeypatch.setenv("PERSIM_JOB_SERVER", "0")
    fresh = job_work(jobs[0], config)[0].kernel
    monkeypatch.setenv("PERSIM_JOB_SERVER", "1")
    served = job_work(jobs[0], config)[0].kernel
    assert fresh.kind == served.kind == "overhead"
    assert not fresh.payload().get("served") and served.payload() == {"served": True}
    assert kernel_id(fresh) != kernel_id(served)  # calibrated and cached apart
    # said outright (persim.cost --job-server / --no-job-server), whatever this process's variable says
    assert job_work(jobs[0], config, served=False)[0].kernel == fresh
    monkeypatch.setenv("PERSIM_JOB_SERVER", "0")
    assert job_work(jobs[0], config, served=True)[0].kernel == served


def test_job_work_comes_from_each_jobs_settings(smoke_jobs):
    jobs, config = smoke_jobs
    by_rule = {}
    for job in jobs:
        work = job_work(job, config)
        assert work[0].kernel.kind == "overhead" and work[0].units == 1
        by_rule.setdefault(job.rule, []).append((job, work))
    job, work = next((j, w) for j, w in by_rule["train_simulator"] if j.settings["method"] == "persim")
    epochs = {w.kernel.part: w.units for w in work if w.kernel.kind == "train"}
    expected = job.settings["model"]["epochs"] * config["agents"]["n_agents"]
    if "epochs@cap" in epochs:  # a policy's trajectories: as long as the paper's Table 5 says, not the cap
        expected *= dataset_length_fraction(job.settings["env"], job.wildcards["behaviour"])
    assert sum(v for k, v in epochs.items() if k.startswith("epochs@")) == pytest.approx(expected)
    job, work = by_rule["eval_reward"][0]
    s = job.settings
    mpc = [w for w in work if w.kernel.kind == "mpc" and not w.kernel.part]
    assert mpc[0].units == pytest.approx(s["max_episode_steps"] * length_fraction(s["env"], s["method"]))
    assert mpc[0].kernel.payload()["episodes"] == 5 * s["n_seeds"] * s["n_episodes"]
    for rule, agents in (("eval_prediction", 5), ("eval_prediction_unseen", len(config["unseen_agents"]["covariates"]))):
        job, work = by_rule[rule][0]
        pred = [w for w in work if w.kernel.kind == "prediction"]
        assert [w.units for w in pred] == [agents]
        assert pred[0].kernel.payload()["rollouts"] == config["evaluation"]["prediction"]["n_rollouts"]
    # a dataset job: its transitions (Table 5's length) under every logging policy of the env, or
    # uniform-random trajectories (units: agents); rollouts run a d3rlpy policy of the profile's networks
    for job, work in by_rule["dataset"]:
        env, behaviour = job.settings["env"], job.wildcards["behaviour"]
        data = [w for w in work if w.kernel.kind == "dataset" and not w.kernel.part]
        p = data[0].kernel.payload()
        if config["datasets"]["epsilon"][behaviour] >= 1.0:
            assert p["policies"] == 0 and p["policy"] is None and data[0].units == config["agents"]["n_agents"]
        else:
            assert p["policies"] == len(get_spec(env).logging_policy_names) == len(get_spec(env).policy_names) - 1
            assert p["policy"] == policy_net(config["policies"][env])
            assert data[0].units == pytest.approx(config["agents"]["n_agents"] * job.settings["max_episode_steps"]
                                                  * dataset_length_fraction(env, behaviour))
    # Table 3's synthetic trajectories: executed lock steps of all test agents' episodes (a planner call
    # every H steps and one ensemble prediction per step are both in the kernel, not MPC lock steps)
    assert by_rule["synthetic_trajectories"]
    for job, work in by_rule["synthetic_trajectories"]:
        s = job.settings
        syn = [w for w in work if w.kernel.kind == "synthetic" and not w.kernel.part]
        assert syn[0].units == pytest.approx(s["max_episode_steps"] * length_fraction(s["env"], s["simulator"]))
        assert syn[0].kernel.payload()["episodes"] == 5 * s["n_trajectories"]
        assert syn[0].kernel.payload()["mpc"]["horizon"] == s["mpc"]["horizon"]
    for job, work in by_rule["test_rollouts"]:
        roll = [w for w in work if w.kernel.kind == "rollout"]
        assert roll[0].kernel.payload()["policy"]["algo"] == config["policies"][job.settings["env"]]["algo"]
    online = [w for j, ws in by_rule["train_policy"] for w in ws if w.kernel.kind == "online" and not w.kernel.part]
    assert {w.units for w in online} == {float(j.settings["train"]["n_steps"]) for j, _ in by_rule["train_policy"]}
    # tables, figures and the report: one job of their family each; the t-SNE's size is its agents
    from persim.cost.work import REPORT_FAMILIES
    report_rules = [r for r in REPORT_FAMILIES if r in by_rule]
    assert {"comparison", "reward_tables", "figure_tsne", "figure_trajectories"} <= set(report_rules)
    for rule in report_rules:
        for job, work in by_rule[rule]:
            rep = {w.kernel.part: w for w in work if w.kernel.kind == "report"}
            p = rep[""].kernel.payload()
            assert p["family"] == REPORT_FAMILIES[rule] and p["threads"] == job.threads
            if p["family"] in ("tables", "comparison"):  # per input file (its upstream jobs) and per job
                assert rep[""].units == len(job.deps) > 0 and rep["fixed"].units == 1 and rep[""].kernel.env == ""
            else:
                assert set(rep) == {""} and rep[""].units == 1 and rep[""].kernel.env == job.wildcards["env"]
            assert p.get("agents") == (config["agents"]["n_agents"] if rule == "figure_tsne" else None)
            assert p.get("n_boot") == (job.settings["n_boot"] if rule == "comparison" else None)
    # jobs that differ only in a work field or a name share one calibration
    train_keys = {(w.kernel.env, w.kernel.key) for _, ws in by_rule["train_policy_set"] for w in ws
                  if w.kernel.kind == "train"}
    assert len(train_keys) < len(by_rule["train_policy_set"])


def test_work_counts_what_the_code_does():
    from persim.baselines.morel import work_units
    from persim.cost.work import greedy_evaluations
    # train_policy: evaluations every 5000 steps after the first update, one at the end, the rule's own
    assert greedy_evaluations({"n_steps": 40000, "eval_interval": 5000, "update_start_step": 1000}) == 8 + 1 + 1
    assert greedy_evaluations({"n_steps": 40000, "eval_interval": 5000, "update_start_step": 5000}) == 7 + 1 + 1
    assert greedy_evaluations({"n_steps": 1000, "eval_interval": 0}) == 1
    # MOReL: its dynamics run max(epochs x full minibatches, dyn_min_steps) steps per policy; MOReL-A's
    # policies each see one trajectory
    cfg = get_method("morel_p").make_config({"dyn_epochs": 3, "dyn_min_steps": 500, "dyn_batch_size": 256,
                                              "iterations": 7}, "mountaincar", 500)
    assert work_units(cfg, 1000, 500, scope="p") == {"dyn_min_steps": 3 * (500_000 // 256), "iterations": 7}
    assert work_units(cfg, 1000, 500, scope="a")["dyn_min_steps"] == 500  # 3 x 1 minibatch < the floor


def test_mpc_episode_lengths_come_from_the_papers_returns():
    # MountainCar: -1 per step, the paper's planning methods average about -215 of a 500-step cap;
    # CartPole: +1 per step, about 180 of 200; HalfCheetah never ends early
    assert 0.35 < length_fraction("mountaincar") < 0.5
    assert 0.85 < length_fraction("cartpole") < 0.95
    assert length_fraction("halfcheetah") == 1.0 == length_fraction("halfcheetah", "cadm_pets")
    # each method its own returns: Table 9's PE-TS CaDM averages -332 (0.66 of the cap), True env + MPC
    # -124, PerSim -128; a method the paper did not run gets the mean over the planning methods
    assert length_fraction("mountaincar", "cadm_pets") == pytest.approx(0.665, abs=0.01)
    assert length_fraction("mountaincar", "true_mpc") < length_fraction("mountaincar", "persim") < 0.3
    assert length_fraction("cartpole", "persim") > length_fraction("cartpole", "cadm_vanilla")
    assert length_fraction("mountaincar", "my_method") == length_fraction("mountaincar")
    # a policy set's evaluation: its own rows of the reward table (MountainCar BCQ-P: -241.6 / -173.2
    # / ... of 500), or the mean over the paper's policy sets (PerSim-BCQ-5 has no row there)
    paper = load_paper_tables()
    bcq = paper[(paper["table"] == 9) & (paper["method"] == "BCQ-P")]["mean"].mean()
    assert length_fraction("mountaincar", "bcq_p") == pytest.approx(-bcq / 500)
    sets = paper[(paper["table"] == 9) & paper["method"].isin(["BCQ-A", "BCQ-P", "CQL-A", "CQL-P", "MOReL-A",
                                                                "MOReL-P"])]
    assert length_fraction("mountaincar", "persim_bcq_5") == pytest.approx(
        -sets.groupby("method")["mean"].mean().mean() / 500)
    assert length_fraction("halfcheetah", "bcq_p") == 1.0


def test_policy_datasets_are_as_long_as_the_papers_table_5_says():
    # Table 5's mean trajectory lengths: MountainCar pure 113.9 of 500, CartPole pure_eps40 93.8 of 200
    assert dataset_length_fraction("mountaincar", "pure") == pytest.approx(113.914 / 500)
    assert dataset_length_fraction("cartpole", "pure_eps40") == pytest.approx(93.8 / 200)
    assert dataset_length_fraction("halfcheetah", "pure") == 1.0  # never ends early
    assert dataset_length_fraction("cartpole", "my_behaviour") == 1.0  # not in Table 5: the cap


def test_mpc_is_timed_past_the_first_steps_and_a_full_context():
    assert mpc_steps(0)[0] >= 3
    k = 10  # CaDM's history: until it is full, part of the context encoding is skipped
    first, second = mpc_steps(k)
    assert k < first < second
    # a changed calibration procedure invalidates the kind's cached figures, not the others'
    assert kernel_id(Kernel("mpc", "cartpole", "{}")) != '["mpc", "cartpole", "{}"]'
    assert kernel_id(Kernel("prediction", "cartpole", "{}")) == '["prediction", "cartpole", "{}"]'


def _filled_cache(path: Path, jobs, config, value: float = 0.5) -> CalibrationCache:
    cache = CalibrationCache(path, "test machine")
    for work in [job_work(job, config) for job in jobs] + [run_start(True)]:
        for w in work:
            cache.entries.setdefault(kernel_id(w.kernel), {})[w.kernel.part] = value
    return cache


def test_costs_and_wall_time_add_up(smoke_jobs, tmp_path):
    jobs, config = smoke_jobs
    cache = _filled_cache(tmp_path / "c.json", jobs, config, value=1.0)
    costs = job_costs(jobs, [job_work(j, config) for j in jobs], cache.seconds)
    for c in costs:
        assert c.seconds == pytest.approx(sum(w.units for w in job_work(c.job, config)))
    total = sum(c.seconds for c in costs)
    longest = max(c.seconds for c in costs)
    assert longest <= wall_time(costs, cores=2) <= total
    assert wall_time(costs, cores=2, contention=2.0) == pytest.approx(2 * wall_time(costs, cores=2))
    # Snakemake's own seconds per job lengthen the wall time, not any job's (stage) seconds
    slow = job_costs(jobs, [job_work(j, config) for j in jobs], cache.seconds, scheduler_s=3.0)
    assert [c.seconds for c in slow] == [c.seconds for c in costs]
    assert wall_time(slow, cores=1) == pytest.approx(wall_time(costs, cores=1) + 3.0 * len(jobs))
    assert {c.stage for c in costs} >= {"logging + test policies", "MPC reward evaluation", "Tables 14-16 (scarcity)"}
    assert stage_of("train_policy_set") == "policy-set training (BCQ/CQL/MOReL)"
    # GPU estimates: only jobs with a measured speed-up hold a GPU, at that speed-up
    ratios = {"mpc:persim:discrete": 4.0, "mpc:persim:continuous": 4.0}
    auto = [dataclasses.replace(j, settings={**j.settings, "device": "auto"}) for j in jobs]  # smoke: cpu
    gpu = {(c.job.rule, c.job.settings.get("method")): c
           for c in job_costs(auto, [job_work(j, config) for j in auto], cache.seconds, ratios)}
    persim, cadm = gpu[("eval_reward", "persim")], gpu[("eval_reward", "cadm_vanilla")]
    assert persim.uses_gpu and persim.gpu_seconds < persim.seconds
    assert not cadm.uses_gpu and cadm.gpu_seconds == cadm.seconds
    assert not gpu[("train_policy", None)].uses_gpu


def test_check_reads_a_runs_benchmark_files(smoke_jobs, tmp_path):
    jobs, config = smoke_jobs
    cache = _filled_cache(tmp_path / "c.json", jobs, config)
    costs = job_costs(jobs, [job_work(j, config) for j in jobs], cache.seconds)
    job = next(j for j in jobs if j.rule == "rank_cv")
    moved = tmp_path / "run"
    bench = moved / Path(job.benchmark).relative_to(config["outdir"])
    bench.parent.mkdir(parents=True)
    bench.write_text("s\th:m:s\n12.5\t0:00:12\n")
    rows = {r["stage"]: r for r in stage_table(costs, check=True, moved=(config["outdir"], str(moved)))}
    row = rows["simulator training + rank CV"]
    assert row["recorded_jobs"] == 1 and row["recorded_s"] == 12.5
    assert all(r["recorded_jobs"] == 0 for s, r in rows.items() if s != "simulator training + rank CV")
    # the run's wall time from its benchmark files' times: first start (end - seconds) to last end
    import os
    later = next(j for j in jobs if j.rule == "eval_prediction")
    bench2 = moved / Path(later.benchmark).relative_to(config["outdir"])
    bench2.parent.mkdir(parents=True, exist_ok=True)
    bench2.write_text("s\th:m:s\n5.0\t0:00:05\n")
    os.utime(bench, (1000.0, 1000.0))
    os.utime(bench2, (1100.0, 1100.0))
    run = recorded_run(costs, 2, (config["outdir"], str(moved)))
    assert run["recorded_jobs"] == 2 and run["wall_s"] == pytest.approx(1100.0 - (1000.0 - 12.5))
    assert run["schedule_s"] > 12.5
    assert recorded_run(costs, 2, (config["outdir"], str(tmp_path / "nothing"))) is None


def test_cli_refuses_an_empty_cache_then_prints_the_estimate(smoke_jobs, tmp_path, capsys, monkeypatch):
    jobs, config = smoke_jobs
    monkeypatch.chdir(REPO)
    cache_file = tmp_path / "cache.json"
    assert cost_main(["--configfile", SMOKE, "--cache", str(cache_file), "--no-calibrate"]) == 2
    assert "not in" in capsys.readouterr().err
    import persim.cost.__main__ as cli
    machine = cli.machine_id("cpu")
    cache = _filled_cache(cache_file, jobs, config)
    cache.data = {machine: cache.entries}
    cache.entries[kernel_id(Kernel("contention", key=json.dumps({"cores": 2})))] = {"": 1.25}
    cache.entries[kernel_id(SCHEDULER)] = {"": 0.5}
    cache.save()
    out_json = tmp_path / "est.json"
    assert cost_main(["--configfile", SMOKE, "--cores", "2", "--gpus", "1", "--cache", str(cache_file),
                      "--no-calibrate", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "estimated wall time on 2 cores" in out and "1 GPU(s)" in out and "1.25x slower" in out
    assert "0.50 s per job" in out
    est = json.loads(out_json.read_text())
    assert est["wall_s"] > 0 and est["contention"] == 1.25 and est["gpu_wall_s"] <= est["wall_s"]
    groups = est["largest_groups"]  # printed and in the JSON, largest first
    assert "largest job groups" in out and groups and groups[0]["group"] in out
    assert [g["estimate_s"] for g in groups] == sorted((g["estimate_s"] for g in groups), reverse=True)
    # the start-up the estimate assumes is printed, and chosen by flag: served forks cost what their kernel says
    for flag, start_up, said in (("--no-job-server", 4.0, "a fresh Python per job"),
                                 ("--job-server", 0.2, "forks of the warm job server")):
        cache.entries[kernel_id(overhead_kernel(flag == "--job-server"))] = {"": start_up, "start": 5.0}
        cache.save()
        assert cost_main(["--configfile", SMOKE, "--cores", "2", "--cache", str(cache_file), "--no-calibrate",
                          "--json", str(out_json), flag]) == 0
        printed = capsys.readouterr().out
        assert said in printed and ("job server start-up (once per run)" in printed) == (flag == "--job-server")
        est[flag] = json.loads(out_json.read_text())["total_job_s"]
    # the server's start-up (its preload) is paid once per run, the fork per job
    assert est["--no-job-server"] - est["--job-server"] == pytest.approx(3.8 * len(jobs) - 5.0)
    # --check on a folder without this profile's benchmark files: the table, and one line that says so
    empty = tmp_path / "empty_run"
    empty.mkdir()
    assert cost_main(["--configfile", SMOKE, "--cores", "2", "--cache", str(cache_file), "--no-calibrate",
                      "--check", str(empty)]) == 0
    printed = capsys.readouterr().out
    assert "(no job recorded)" in printed
    assert f"no benchmark file of these jobs in {empty}: nothing to compare" in printed


def _cli_error(capsys, argv: list[str]) -> str:
    """``python -m persim.cost argv``'s stderr, asserting exit status 1 and one ``error:`` message, no traceback."""
    assert cost_main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "\nerror: " not in err and "Traceback" not in err
    return err


@pytest.fixture
def no_dag(monkeypatch):
    """The CLI run from the repository, failing the test if it builds the DAG (bad input is found before)."""
    import persim.cost.__main__ as cli

    def built(*args, **kwargs):
        raise AssertionError("the DAG was built before the bad input was found")

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(cli, "load_jobs", built)


def test_cli_names_the_bad_config_key_file_or_override(tmp_path, capsys, no_dag):
    typo, syntax, missing = tmp_path / "typo.yaml", tmp_path / "syntax.yaml", tmp_path / "missing.yaml"
    typo.write_text("envz: [cartpole]\n")
    syntax.write_text("envs: [cartpole\nfoo: 1\n")
    for files, config, said in (([typo], [], "config key 'envz'"), ([missing], [], f"config file not found: {missing}"),
                                ([syntax], [], f"{syntax} line 2, column"), ([], ["envs"], "--config envs: "),
                                ([], ["envs=[cartpole"], "config key 'envs'")):
        argv = ["--configfile", SMOKE, *map(str, files), "--no-calibrate", "--cache", str(tmp_path / "c.json")]
        assert said in _cli_error(capsys, argv + (["--config", *config] if config else []))


def test_cli_reports_the_workflows_own_config_checks_in_one_error(tmp_path, capsys, monkeypatch):
    """A setting the schema allows but the workflow's parse refuses (rules/common.smk) is one error too."""
    monkeypatch.chdir(REPO)
    overlay = tmp_path / "bad_setting.yaml"
    overlay.write_text("baselines:\n  bcq:\n    common:\n      bogus_setting: 1\n")
    err = _cli_error(capsys, ["--configfile", SMOKE, str(overlay), "--no-calibrate", "--cache", str(tmp_path / "c.json")])
    assert "config key 'baselines.bcq.common.bogus_setting'" in err


@pytest.mark.parametrize("argv, said", [(["--cores", "0"], "argument --cores: must be a positive integer, got 0"),
                                        (["--cores", "-2"], "argument --cores"), (["--gpus", "-1"], "argument --gpus"),
                                        (["--cores", "two"], "not an integer: 'two'"),
                                        (["--device", "bogus"], "must be cpu, cuda or cuda:N, got 'bogus'"),
                                        (["--device", "cuda:99"], "--device cuda:99 but torch sees")])
def test_cli_refuses_counts_and_devices_it_cannot_use(argv, said, capsys, no_dag):
    with pytest.raises(SystemExit) as exit_:
        cost_main(["--configfile", SMOKE, *argv])
    assert exit_.value.code == 2 and said in capsys.readouterr().err


def test_cli_checks_its_paths_before_estimating(tmp_path, capsys, no_dag):
    base = ["--configfile", SMOKE, "--no-calibrate", "--cache", str(tmp_path / "c.json")]
    gone = tmp_path / "gone"
    assert f"--check {gone}: no such folder" in _cli_error(capsys, base + ["--check", str(gone)])
    elsewhere = tmp_path / "elsewhere.yaml"  # --check alone: the profile's outdir, not there either
    elsewhere.write_text(f"outdir: {gone}\n")
    err = _cli_error(capsys, ["--configfile", SMOKE, str(elsewhere)] + base[2:] + ["--check"])
    assert "config key 'outdir'" in err and f"{gone}: no such folder" in err
    assert f"folder {gone} does not exist" in _cli_error(capsys, base + ["--json", str(gone / "est.json")])
    assert "--snakefile nope.smk: no such file" in _cli_error(capsys, base + ["--snakefile", "nope.smk"])
    corrupt = tmp_path / "cache.json"
    corrupt.write_text('{"machine": {"kernel": ')
    err = _cli_error(capsys, base[:2] + ["--no-calibrate", "--cache", str(corrupt)])
    assert f"calibration cache {corrupt} is not valid JSON" in err and "--cache" in err
    assert corrupt.read_text() == '{"machine": {"kernel": '  # the user's measurements are not deleted


def test_a_cache_file_that_is_not_a_cache_is_named_and_kept(tmp_path):
    path = tmp_path / "cache.json"
    for text in ("[1, 2]", '{"machine": 3}', "not json"):
        path.write_text(text)
        with pytest.raises(CacheError, match=f"calibration cache {path} .*delete it"):
            CalibrationCache(path, "machine")
        assert path.read_text() == text


def test_dataset_timing_retries_while_noise_hides_the_long_runs_rows(caplog):
    """The dataset kernel's two runs are timed again with twice the repetitions while the long one is
    timed no slower than the short one; after the last try a warning says the per-row time is lost."""
    calls: list[tuple[int, int]] = []

    def noisy_then_clear(clear_from: int):
        def best(steps: int, reps: int) -> tuple[float, int]:
            calls.append((steps, reps))
            slower = steps > 1 and reps >= clear_from
            return (0.02 if slower else 0.01), (steps * 100)
        return best

    a, b = short_and_long(noisy_then_clear(4), 1, 200, 1, "the test kernel")
    assert calls == [(1, 1), (200, 1), (1, 2), (200, 2), (1, 4), (200, 4)]
    assert a == (0.01, 100) and b == (0.02, 20000)
    calls.clear()
    with caplog.at_level("WARNING", logger="persim.cost"):
        a, b = short_and_long(noisy_then_clear(10**9), 1, 200, 3, "the test kernel")
    assert [r for _, r in calls] == [3, 3, 6, 6, 12, 12]  # 3 tries, repetitions doubled each time
    assert b[0] <= a[0] and "the test kernel" in caplog.text and "taken as 0" in caplog.text


def test_calibration_times_the_real_code(tmp_path):
    """A real (small) calibration: a CartPole rollout kernel and PerSim training at smoke size."""
    cal = Calibrator("cpu")
    small = {"algo": "dqn", "hidden_units": [32, 32]}
    roll = cal.measure(Kernel("rollout", "cartpole", json.dumps({"episodes": 4, "policy": small, "threads": 1})))
    assert roll[""] > 0 and roll["fixed"] > 0  # the fixed part loads the saved policy
    # a dataset job under 2 saved policies: an untrained CartPole policy falls within ~5-10 steps, so the
    # job is repeated until the timed runs differ by thousands of transitions; uniform-random
    # trajectories cost per agent
    # 50 agents, as a profile's dataset job is timed (its 100-500 agents capped at MAX_EPISODES): with 6,
    # the two timed runs differed by a few dozen transitions and a busy machine's noise could hide them
    data = cal.measure(Kernel("dataset", "cartpole", json.dumps(
        {"episodes": 50, "policies": 2, "policy": small, "episode_steps": 200, "threads": 1})))
    rand = cal.measure(Kernel("dataset", "cartpole", json.dumps(
        {"episodes": 50, "policies": 0, "policy": None, "episode_steps": 200, "threads": 1})))
    assert 0 < data[""] < 0.01 and data["fixed"] > 0
    assert rand[""] > data[""] and rand["fixed"] > 0  # an agent's ~20 steps cost more than one step
    from persim.cost.work import train_key
    key, fields = train_key("persim", "cartpole", {"n_members": 2, "rank": 2, "state_hidden": [32], "batch_size": 64},
                            200)
    parts = cal.measure(Kernel("train", "cartpole", key))
    assert set(parts) == {"fixed", "epochs@random", "epochs@cap"}
    # a pass over a 200-step trajectory costs more than one over a random one (about 20 steps)
    assert parts["epochs@cap"] > parts["epochs@random"] > 0
    # the prediction and MPC kernels run on the simulator that calibration just trained
    sim = {"n_members": 2, "rank": 2, "state_hidden": [32], "batch_size": 64}
    pred = cal.measure(Kernel("prediction", "cartpole", json.dumps(
        {"method": "persim", "sim": sim, "rollouts": 4, "warmup": 3, "horizon": 5, "feedback": "members",
         "episode_steps": 200, "threads": 1})))
    assert pred[""] > 0
    mpc = cal.measure(Kernel("mpc", "cartpole", json.dumps(
        {"method": "persim", "sim": sim, "episodes": 2, "episode_steps": 200, "threads": 1,
         "mpc": {"horizon": 4, "n_candidates": 8}})))
    assert mpc[""] > 0 and mpc["fixed"] >= 0
    syn = cal.measure(Kernel("synthetic", "cartpole", json.dumps(
        {"method": "persim", "sim": sim, "episodes": 10, "episode_steps": 200, "threads": 1,
         "mpc": {"horizon": 4, "n_candidates": 8}})))
    assert syn[""] > 0 and syn["fixed"] >= 0
    # Snakemake's own time per job: a real (trivial) workflow, a fraction of a second per job
    assert 0 < cal.measure(SCHEDULER)[""] < 5


@pytest.mark.parametrize("episodes, timed", [(10, 10), (100, 100), (250, 200)])
def test_policy_evaluations_are_timed_at_their_own_batch_up_to_200_episodes(monkeypatch, episodes, timed):
    """A policy's per-episode cost falls with its lock-step batch (HalfCheetah BCQ: 0.79 s per 1,000
    episode-steps timed at 50 episodes, 0.61 s at the quick jobs' 100, as they ran): the calibration times
    the job's own number of episodes, up to 200, and figures timed at the old cap of 50 no longer count."""
    import pandas as pd

    from persim.cost import calibrate
    seen = {}

    def fit(env, n, want, actor):
        seen.update(n=n, want=want)
        return 1e-3, 0.5
    monkeypatch.setattr(calibrate, "_lockstep_fit", fit)
    monkeypatch.setattr(Calibrator, "trained", lambda self, *args: None)
    agents = pd.DataFrame({"agent_id": range(6), "test_agent": [0, 1, 2, 3, 4, 5]})
    monkeypatch.setattr(Calibrator, "calibration_data", lambda self, env, cap: (None, agents, 10.0))
    parts = Calibrator("cpu").policy_eval("halfcheetah", {"method": "bcq_p", "settings": {}, "episodes": episodes,
                                                         "episode_steps": 1000})
    assert seen == {"n": timed, "want": episodes} and parts == {"": 1e-3, "fixed": 0.5}
    assert kernel_id(Kernel("policy_eval", "halfcheetah", "{}")).endswith("#v2")


def test_report_workloads_run_the_reporting_code_and_are_timed_in_a_fresh_process(tmp_path):
    """Each report family runs the package's own table / figure code on inputs made here; the
    calibration times one family in a fresh Python (its own imports counted, not the preload)."""
    from persim.cost.report_work import FAMILIES, workload
    for family in FAMILIES:
        out = tmp_path / family
        out.mkdir()
        workload(family, "cartpole", 30, out, n_boot=50)
    assert len(list((tmp_path / "tables").glob("reward_*.csv"))) == 30  # its inputs, made up
    assert "Reproduction vs. paper" in (tmp_path / "tables" / "comparison.md").read_text()
    assert "Reward interval estimates" in (tmp_path / "comparison" / "comparison.html").read_text()
    assert "Reward interval estimates" not in (tmp_path / "tables" / "comparison.html").read_text()
    assert (tmp_path / "tsne" / "tsne.png").stat().st_size > 0
    assert (tmp_path / "trajectories" / "trajectories.png").stat().st_size > 0
    with pytest.raises(ValueError, match="unknown report family 'pie'"):
        workload("pie", "cartpole", 30, tmp_path)
    seconds = Calibrator("cpu").measure(Kernel("report", "", json.dumps({"family": "tables", "threads": 1})))
    assert 0 < seconds[""] < 1 and 0 < seconds["fixed"] < 60  # per input file, per job


def test_retrained_seeds_are_their_own_jobs_with_their_own_seeds(smoke_jobs):
    """evaluation.reward.retrain_per_seed (on in smoke, as in the paper profile): reward seed k >= 1
    of Tables 9-11 plans on a simulator trained like the dataset's model but from its own seed."""
    jobs, config = smoke_jobs
    n_seeds = config["evaluation"]["reward"]["n_seeds"]
    main = {(j.wildcards["env"], j.wildcards["behaviour"], j.wildcards["method"]): j
            for j in jobs if j.rule == "train_simulator"}
    seeded = [j for j in jobs if j.rule == "train_simulator_seed"]
    assert len(seeded) == len(main) * (n_seeds - 1)
    for j in seeded:
        twin = main[(j.wildcards["env"], j.wildcards["behaviour"], j.wildcards["method"])]
        assert j.settings["model"] == twin.settings["model"] and j.settings["seed"] != twin.settings["seed"]
        assert j.settings["retrain_seed"] == int(j.wildcards["k"])
    for ev in (j for j in jobs if j.rule == "eval_reward"):
        trained = {jobs[d].rule for d in ev.deps}
        assert {"train_simulator", "train_simulator_seed"} <= trained


def test_contention_is_a_ratio_of_medians_so_one_outlier_does_not_swing_it(monkeypatch):
    """Each batch of workload processes reports its seconds; alone and together are medians of 3."""
    from persim.cost import calibrate

    seconds = iter([1.0, 9.0, 1.2,              # alone: one outlier (9.0) -> median 1.2
                    2.4, 2.5, 30.0, 2.6, 2.4, 2.4])  # together, 2 processes per batch: maxima 2.5, 30, 2.4 -> 2.5

    class Fake:
        def __init__(self, *args, **kwargs):
            self.out = f"{next(seconds)}\n"

        def communicate(self):
            return self.out, ""

    monkeypatch.setattr(calibrate.subprocess, "Popen", Fake)
    ratio = calibrate.Calibrator("cpu").contention("", {"cores": 2})[""]
    assert ratio == pytest.approx(2.5 / 1.2)


@pytest.mark.slow
def test_served_start_up_is_calibrated_with_a_real_server_that_is_stopped_after(tmp_path):
    import time

    from persim import jobserver

    sockets = lambda: set(jobserver.socket_path(tmp_path).parent.glob("persim-jobs-*.sock"))  # noqa: E731
    before = sockets()
    parts = Calibrator().overhead(served=True)
    assert 0 < parts[""] < 60 and 0 <= parts["start"] < 120  # the fork; the server's preload, once
    deadline = time.monotonic() + 20
    while sockets() - before:  # the calibration's server got stop() and removes its socket
        assert time.monotonic() < deadline, sockets() - before
        time.sleep(0.2)



def test_config_overrides_reach_the_dag_as_snakemake_s_config_does(smoke_jobs, monkeypatch):
    jobs, _ = smoke_jobs
    monkeypatch.chdir(REPO)
    from snakemake.cli import parse_config
    only, config = load_jobs([SMOKE], overrides=parse_config(["envs=[cartpole]"]))  # make cost ENVS=cartpole
    assert config["envs"] == ["cartpole"]
    assert {j.wildcards["env"] for j in only if "env" in j.wildcards} == {"cartpole"}
    assert {j.rule for j in only} >= {"comparison", "reward_tables", "prediction_tables"}  # the report still built
    assert 0 < len(only) < len(jobs)
