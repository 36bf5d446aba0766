"""Fault injection: bad settings, diverging training, damaged and out-of-range data, models that
predict NaN, a failed job. Each must end in one clear error or a correct rebuild, and never in a
finite-looking wrong number under results/ (a SIGKILL mid-job and resume: tests/test_restart.py)."""
import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import REPO, job_counts, snakemake
from persim.baselines.cadm import CaDMConfig, train_cadm
from persim.baselines.morel import MorelConfig, train_dynamics
from persim.d3rlpy_logging import PersimLoggerAdapter
from persim.data.schema import OfflineDataset, read_meta, write_dataset
from persim.evaluation.prediction import TestRollouts as Rollouts
from persim.evaluation.prediction import evaluate_prediction
from persim.guards import DivergenceError, NonFiniteError
from persim.models.persim import PerSimConfig, PerSimNet, PerSimSimulator, train_persim
from persim.planning.mpc import MPCConfig, RandomShooting
from persim.planning.rewards import reward_fn


def _dataset(n_agents=4, steps=40, seed=0) -> OfflineDataset:
    rng = np.random.default_rng(seed)
    t_all = n_agents * steps
    obs = rng.normal(size=(t_all, 2)).astype(np.float32)
    return OfflineDataset(env="mountaincar", path="<memory>", meta={"behaviour": "random"},
                          agent_ids=np.repeat(np.arange(n_agents), steps), covariates=np.ones((t_all, 1)),
                          t=np.tile(np.arange(steps), n_agents), obs=obs, actions=rng.integers(0, 3, t_all),
                          rewards=-np.ones(t_all), next_obs=obs + 0.01 * rng.normal(size=obs.shape).astype(np.float32),
                          terminated=np.zeros(t_all, bool), truncated=np.zeros(t_all, bool))


# ---- 1. a diverged model produces no tables -------------------------------------------------------
def test_a_huge_learning_rate_is_refused_before_any_job(workflow_copy):
    bad = workflow_copy / "lr.yaml"
    bad.write_text("persim: {learning_rate: 1000000.0}\n")
    res = snakemake(workflow_copy, "-n", "--configfile", "config/smoke.yaml", str(bad))
    assert res.returncode != 0 and "persim.learning_rate" in res.stdout + res.stderr
    assert job_counts(res.stdout) == {}
    with pytest.raises(ValueError, match=r"persim.learning_rate must be in \(0, 0.1\]"):
        PerSimConfig(learning_rate=1e6)


def test_persim_training_stops_when_the_loss_diverges():
    cfg = PerSimConfig(rank=2, n_members=2, epochs=5, batch_size=32, state_hidden=[16])
    cfg.learning_rate = 1e6  # past the config check: what a diverging run looks like
    with pytest.raises(DivergenceError, match=r"PerSim r=2 on mountaincar/random: training diverged at epoch \d"):
        train_persim(_dataset(), 4, cfg, seed=0)


def test_cadm_and_morel_training_stop_when_the_loss_diverges():
    cfg = CaDMConfig(hidden=(16,), context_hidden=(8,), context_length=3, context_dim=4, weight_decay=1e-5,
                     context_weight_decay=1e-5, epochs=4, batch_size=16, future_length=2)
    cfg.learning_rate = 1e8
    with pytest.raises(DivergenceError, match=r"Vanilla CaDM on mountaincar/random: training diverged"):
        train_cadm(_dataset(), cfg, seed=0)
    mcfg = MorelConfig.for_env("mountaincar", dyn_hidden=[16], dyn_epochs=5, dyn_min_steps=10)
    mcfg.dyn_lr = 1e12
    with pytest.raises(DivergenceError, match=r"MOReL dynamics on mountaincar/random: training diverged"):
        train_dynamics(_dataset(), mcfg, 0)


def test_d3rlpy_metrics_stop_training_when_a_loss_is_nan():
    adapter = PersimLoggerAdapter(None, 0, what="CQL (all agents) on cartpole/random")
    adapter.before_write_metric(3, 30)
    adapter.write_metric(3, 30, "loss", float("nan"))
    adapter.write_metric(3, 30, "time_sample_batch", 0.1)
    with pytest.raises(DivergenceError, match=r"CQL \(all agents\) on cartpole/random: training diverged at epoch 3"):
        adapter.after_write_metric(3, 30)


def _nan_persim() -> PerSimSimulator:
    cfg = PerSimConfig(rank=2, n_members=2, state_hidden=[8])
    net = PerSimNet(4, 2, 3, 0, cfg)
    with torch.no_grad():
        net.g_u.weight.fill_(math.nan)  # what a diverged model holds
    return PerSimSimulator(net, cfg, {"n_agents": 4, "obs_dim": 2, "n_actions": 3, "action_dim": 0})


def test_evaluators_refuse_a_model_that_predicts_nan():
    sim = _nan_persim()
    ro = Rollouts(np.zeros((3, 9, 2), np.float32), np.zeros((3, 8), np.int64))
    with pytest.raises(NonFiniteError, match="PerSim predictions"):
        evaluate_prediction(sim, 1, ro, warmup=2, horizon=5)
    planner = RandomShooting(MPCConfig(n_candidates=8, horizon=3), 3, reward_fn("mountaincar"), sim.planning_members,
                             generator=torch.Generator().manual_seed(0))
    with pytest.raises(NonFiniteError, match="MPC candidate rollouts"):
        planner.act(sim.planning_step(np.array([0, 1]), 8), torch.zeros(2, 2))


# ---- 3-4. damaged or out-of-range data in a finished run -----------------------------------------------
@pytest.fixture
def finished_run(smoke_run, tmp_path):
    """A copy of the finished smoke run (outputs, Snakemake's records and mtimes) to damage."""
    dest = tmp_path / "run"
    shutil.copytree(smoke_run, dest, symlinks=True)
    return dest


def _verify(run, *args):
    return subprocess.run([sys.executable, "-m", "persim.verify", "results/smoke", *args], cwd=run,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(run)})


@pytest.mark.slow
def test_a_damaged_cached_dataset_is_found_deleted_and_rebuilt(finished_run):
    run = finished_run
    ok = _verify(run)
    assert ok.returncode == 0 and "0 damaged" in ok.stdout, ok.stdout + ok.stderr
    path = run / "results/smoke/cartpole/datasets/random.parquet"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3: len(raw) // 3 + 200] = bytes(200)
    path.write_bytes(bytes(raw))
    model = run / "results/smoke/cartpole/random/persim/model.pt"
    model.write_bytes(model.read_bytes()[:-10] + bytes(10))
    found = _verify(run)
    assert found.returncode == 1
    assert "damaged   results/smoke/cartpole/datasets/random.parquet" in found.stdout
    assert "damaged   results/smoke/cartpole/random/persim/model.pt: content hash" in found.stdout
    assert _verify(run, "--delete").returncode == 0 and not path.exists() and not model.exists()
    plan = job_counts(snakemake(run, "-n", "--configfile", "config/smoke.yaml").stdout)
    # the dataset and every method trained on it are rebuilt, with their evaluations and the tables
    # (6 policy sets of Tables 9-11 and PerSim-BCQ-5 / -CQL-5 of Table 3, on cartpole's random data)
    assert plan["dataset"] == 1 and plan["train_simulator"] == 3 and plan["train_policy_set"] == 6 + 2
    assert plan["eval_reward"] == 3 and plan["comparison"] == 1


def _failed_training(run, env: str, dataset: str, method: str) -> str:
    """Force one training job on the (damaged) data; it must fail, leave no output or sidecar, and
    its log is returned."""
    target = f"results/smoke/{env}/{dataset}/{method}/model.pt"
    res = snakemake(run, target, "--cores", "1", "--configfile", "config/smoke.yaml", "--forcerun", "train_simulator",
                    "--allowed-rules", "train_simulator")
    assert res.returncode != 0
    assert not (run / target).exists() and not (run / f"{target}.meta.json").exists()  # no orphan sidecar
    return (run / f"results/smoke/logs/{env}/{dataset}/{method}/train.log").read_text()


@pytest.mark.slow
def test_out_of_range_data_fails_its_job_with_the_file_and_column_named(finished_run):
    run = finished_run
    path = run / "results/smoke/cartpole/datasets/random.parquet"
    meta = read_meta(path)
    frame = pd.read_parquet(path)
    frame.loc[7, "action"] = 5  # CartPole has actions 0, 1
    write_dataset(frame, path, meta)
    log = _failed_training(run, "cartpole", "random", "persim")
    assert "random.parquet: column 'action' holds 5, outside cartpole's actions 0..1" in log
    assert "rule train_simulator failed after" in log and "finished in" not in log


@pytest.mark.slow
def test_metadata_that_is_not_json_fails_its_job_naming_the_file(finished_run):
    import pyarrow.parquet as pq

    run = finished_run
    path = run / "results/smoke/mountaincar/datasets/pure.parquet"
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({b"persim": b"{'env': mountaincar"}), path, write_page_checksum=True)
    log = _failed_training(run, "mountaincar", "pure", "cadm_vanilla")
    assert "pure.parquet: its 'persim' metadata is not valid JSON" in log
    assert _verify(run).returncode == 0  # the file is intact (checksums), only its content is invalid


@pytest.mark.slow
def test_every_evaluation_is_a_function_of_its_inputs_and_seed(finished_run):
    """Every method's saved simulator or policy set, evaluated again in a new process: the same CSV,
    for all methods and all three envs (and True env + MPC)."""
    from persim.methods import POLICY_METHODS, SIMULATOR_METHODS

    run = finished_run
    targets = [f"results/smoke/{env}/true_mpc/reward.csv" for env in ("mountaincar", "cartpole", "halfcheetah")]
    for env in ("mountaincar", "cartpole", "halfcheetah"):
        targets += [f"results/smoke/{env}/random/{m}/{f}" for m in SIMULATOR_METHODS for f in ("prediction.csv",
                                                                                              "reward.csv")]
        targets += [f"results/smoke/{env}/random/{m}/reward.csv" for m in POLICY_METHODS]
    first = {t: (run / t).read_text() for t in targets}
    res = snakemake(run, *targets, "--cores", "2", "--forcerun", "eval_prediction", "eval_reward", "eval_policy_rewards",
                    "eval_policy_reward", "eval_reward_true_env", "--configfile", "config/smoke.yaml")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    # one eval_policy_rewards job per env writes the 6 main policy methods' rewards
    assert job_counts(res.stdout + res.stderr)["total"] == len(targets) - 3 * (6 - 1)
    changed = [t for t in targets if (run / t).read_text() != first[t]]
    assert changed == []


@pytest.mark.slow
def test_no_rule_log_holds_colour_codes(smoke_run):
    logs = list((smoke_run / "results/smoke/logs").rglob("*.log"))
    assert len(logs) > 100
    coloured = [str(p.relative_to(smoke_run)) for p in logs if "\x1b[" in p.read_text(errors="ignore")]
    assert coloured == [], coloured[:5]


def test_the_default_profile_prints_no_empty_shell_commands(workflow_copy):
    shutil.copytree(REPO / "profiles", workflow_copy / "profiles")  # loaded as the workflow profile
    res = snakemake(workflow_copy, "-n", "--configfile", "config/smoke.yaml")
    assert res.returncode == 0 and "Using workflow specific profile" in res.stdout + res.stderr
    assert "Shell command: None" not in res.stdout + res.stderr


def test_the_default_profile_keeps_snakemake_from_reselecting_jobs_every_second():
    """Snakemake's default rate limit (100/1s) leaves one more 1-second re-selection timer behind per
    finished job (its main process reached 38% of a core mid-way through the quick profile); the
    profile's limit must re-select less often, yet not hold Snakemake's exit (it waits for its last
    timer) or throttle a local run."""
    import yaml
    from snakemake.settings.types import MaxJobsPerTimespan

    profile = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    limit = MaxJobsPerTimespan.parse_choice(profile["max-jobs-per-timespan"])
    assert 10 <= limit.timespan <= 60 and limit.max_jobs >= 100 * limit.timespan


def test_trace_with_a_filter_matching_nothing_fails(tmp_path):
    table = tmp_path / "reward.csv"
    pd.DataFrame({"env": ["cartpole"], "dataset": ["random"], "method": ["PerSim"], "agent": [1]}).to_csv(table)
    res = subprocess.run([sys.executable, "-m", "persim.trace", str(table), "--method", "PerSimm"], capture_output=True,
                         text=True, cwd=REPO)
    assert res.returncode == 1 and "no row of" in res.stderr and "method=PerSimm" in res.stderr


def test_config_errors_are_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("persim:\n  epochs: [1, 2\n  n_members: 3\n")
    typo = tmp_path / "typo.yaml"  # a method's setting (raised by persim.methods, not persim.config)
    typo.write_text("baselines: {bcq: {variants: {persim_bcq_5: {env: {cartpole: {n_stepz: 5}}}}}}\n")
    for args, wanted in (([str(bad)], "bad.yaml line 3, column 12: YAML syntax error"),
                         ([str(tmp_path / "nope.yaml")], "config file not found:"),
                         ([str(typo)], "'baselines.bcq.variants.persim_bcq_5.env.cartpole.n_stepz': unknown setting")):
        res = subprocess.run([sys.executable, "-m", "persim.config", *args], capture_output=True, text=True, cwd=REPO)
        assert res.returncode == 1 and wanted in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_make_refuses_a_python_other_than_3_11(tmp_path):
    fake = tmp_path / "python3.12"
    fake.write_text("#!/bin/sh\nexec python3 -c 'import sys; sys.exit(1)'\n")
    fake.chmod(0o755)
    res = subprocess.run(["make", "-C", str(REPO), "setup", f"PYTHON={fake}", f"VENV={tmp_path / 'venv'}"],
                         capture_output=True, text=True)
    assert res.returncode != 0 and "is not Python 3.11" in res.stderr
    assert not (tmp_path / "venv").exists()  # nothing installed


def test_sidecars_record_the_content_hash(tmp_path):
    from persim.provenance import file_sha256, write_sidecar

    out = tmp_path / "x.csv"
    out.write_text("a\n1\n")
    side = json.loads(write_sidecar(out, {"rule": "r"}).read_text())
    assert side["sha256"] == hashlib.sha256(b"a\n1\n").hexdigest() == file_sha256(out)
    assert side["bytes"] == 4 and side["rule"] == "r"
    logging.getLogger(__name__).debug("sidecar %s", side)
