"""`python -m persim.retrain_check`: a finished run's simulator retrained and judged as the run did."""
import logging

import pandas as pd
import pytest


@pytest.mark.slow
def test_retraining_with_the_runs_own_settings_and_seeds_gives_the_runs_own_cells(smoke_run):
    from persim.data import load_dataset
    from persim.methods import get_method
    from persim.prediction_check import test_agent_rollouts
    from persim.retrain_check import method_config, run_facts, score

    run = smoke_run / "results/smoke"
    agents = pd.read_parquet(run / "cartpole/agents.parquet")
    rows = test_agent_rollouts(run, "cartpole")
    for method in ("persim", "cadm_pets"):  # smoke retrains per reward seed: one simulator per seed
        facts = run_facts(run, "cartpole", "random", method)
        assert len(facts["train_seeds"]) == 2 and facts["train_seeds"][0] == facts["train"]["seed"]
        cfg = method_config(method, facts, {})
        ds = load_dataset(facts["train"]["dataset_path"], env="cartpole", n_agents=len(agents))
        sims = [get_method(method).train(ds, agents, cfg, s, "cpu", logging.getLogger("test"))[0]
                for s in facts["train_seeds"]]
        cells = score(sims, facts, agents, rows, "cpu")
        assert list(cells["agent"]) == [1, 2, 3, 4, 5]
        pd.testing.assert_frame_equal(cells, facts["cells"], check_dtype=False, rtol=1e-6)


@pytest.mark.slow
def test_retrain_check_applies_typed_overrides_and_reports_bad_input_in_one_line(smoke_run, capsys):
    from persim.config import ConfigError
    from persim.retrain_check import main, method_config, run_facts

    run = smoke_run / "results/smoke"
    facts = run_facts(run, "mountaincar", "random", "persim")
    assert facts["train_threads"] == 1  # smoke's train_threads, from the rule's log
    assert method_config("persim", facts, {}).standardize is True
    assert method_config("persim", facts, {"standardize": False}).standardize is False
    assert method_config("persim", facts, {"state_hidden": [8]}).state_hidden == [8]
    assert method_config("persim", facts, {"learning_rate": "1e-3"}).learning_rate == 0.001  # YAML reads a str
    with pytest.raises(ConfigError, match="standardize='flase'"):
        method_config("persim", facts, {"standardize": "flase"})
    with pytest.raises(ConfigError, match="bogus"):
        method_config("persim", facts, {"bogus": 1})
    facts["train"]["trained_with"]["standardize"] = False  # as if a default had changed since the run
    with pytest.raises(ConfigError, match="other persim settings.*standardize"):
        method_config("persim", facts, {})

    assert main([str(run), "mountaincar", "random", "--set", "epochs=1", "--seeds", "5", "--episodes", "1"]) == 0
    out = capsys.readouterr().out
    assert "changed: {'epochs': 1}" in out and "the run (recorded)" in out and "retrained, seed 5/6" in out
    assert out.count("good ") == 2  # the recorded row and the retrained one, each with its count
    for argv, what in ((["mountaincar", "nodata"], "dataset 'nodata' not trained for env mountaincar"),
                       (["mountaincar", "random", "--set", "epochs"], "expected field=value"),
                       (["mountaincar", "random", "--set", "epochs=1.5"], "expected type int"),
                       (["mountaincar", "random", "--reuse", "--mpc", "candidates=5"], "unknown setting for MPCConfig"),
                       (["mountaincar", "random", "--reuse", "--mpc", "horizon=[2]"], "expected type int")):
        assert main([str(run), *argv]) == 1
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert out == "" and len(lines) == 1 and lines[0].startswith("error:") and what in lines[0]


@pytest.mark.slow
def test_reuse_scores_the_saved_simulators_as_recorded_and_mpc_reaches_the_planner(smoke_run, capsys, monkeypatch):
    import persim.retrain_check as rc

    run = str(smoke_run / "results/smoke")
    for env, method in (("mountaincar", "persim"), ("cartpole", "cadm_pets"), ("halfcheetah", "persim")):
        assert rc.main([run, env, "random", "--method", method, "--reuse"]) == 0
        lines = capsys.readouterr().out.splitlines()
        recorded = next(line for line in lines if line.startswith("the run (recorded)"))
        reused = next(line for line in lines if line.startswith("the run's simulator"))
        assert recorded.split(" rmse ")[1] == reused.split(" rmse ")[1], env  # the same cells, every seed's simulator

    seen = []
    real = rc.plan_rewards
    monkeypatch.setattr(rc, "plan_rewards", lambda env, plan, sims, mpc, *a: seen.append(dict(mpc)) or real(
        env, plan, sims, mpc, *a))
    assert rc.main([run, "cartpole", "random", "--reuse", "--mpc", "n_candidates=3", "horizon=2"]) == 0
    assert seen and seen[-1]["n_candidates"] == 3 and seen[-1]["horizon"] == 2
    assert "the run's saved simulator" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        rc.main([run, "cartpole", "random", "--reuse", "--set", "epochs=1"])
