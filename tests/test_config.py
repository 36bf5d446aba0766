"""Bad configuration stops Snakemake before any job, with an error naming the key."""
import copy
import re

import pytest
import yaml

from conftest import REPO, snakemake
from persim.config import ConfigError, load_config, merge


@pytest.mark.parametrize(
    "override,key",
    [
        ({"agents": {"n_agent": 10}}, "'agents.n_agent'"),  # unknown key
        ({"seed": "zero"}, "'seed'"),  # wrong type
        ({"agents": {"n_agents": 2}}, "'agents.n_agents'"),  # out of range
        ({"datasets": {"epsilon": {"pure_eps20": 1.5}}}, "'datasets.epsilon.pure_eps20'"),
        ({"policies": {"cartpole": {"n_steps": 0}}}, "'policies.cartpole.n_steps'"),
        ({"envs": ["pendulum"]}, "'envs.0'"),
    ],
)
def test_bad_config_names_the_key(workflow_copy, override, key):
    bad = workflow_copy / "bad.yaml"
    bad.write_text(yaml.safe_dump({**yaml.safe_load((workflow_copy / "config/smoke.yaml").read_text()), **override}))
    res = snakemake(workflow_copy, "-n", "--configfile", str(bad))
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert f"config key {key}" in out, out[-2000:]
    assert not (workflow_copy / "results").exists()


def test_profiles_validate_and_share_the_dag(workflow_copy):
    for profile in ("config.yaml", "quick.yaml", "smoke.yaml"):
        res = snakemake(workflow_copy, "-n", "-q", "--configfile", f"config/{profile}")
        assert res.returncode == 0, res.stderr[-2000:]


def test_load_config_merges_profiles_like_snakemake(tmp_path):
    quick = load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml")
    assert quick["outdir"] == "results/quick" and quick["agents"]["n_agents"] == 100
    assert quick["policies"]["cartpole"]["algo"] == "dqn"  # kept from the paper profile
    assert merge({"a": [1, 2], "b": {"c": 1}}, {"a": [3], "b": {"d": 2}}) == {"a": [3], "b": {"c": 1, "d": 2}}
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies: {halfcheetah: {algo: ppo}}\n")
    with pytest.raises(ConfigError, match="config key 'policies.halfcheetah.algo'"):
        load_config(REPO / "config/config.yaml", bad)


def _quick(*overlays):
    """The quick profile as Snakemake merges it, with ``overlays`` laid over it."""
    return load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml", *overlays)


_OVERLAYS = sorted((REPO / "config/overlays").glob("*.yaml"))
_SCARCITY_PAIRS = [(REPO / f"config/overlays/{n}.yaml", REPO / "config/overlays/scarcity-5-trials.yaml")
                   for n in ("scarcity-all-n", "scarcity-n100-trials")]


@pytest.mark.parametrize("overlays", [(p,) for p in _OVERLAYS] + _SCARCITY_PAIRS,
                         ids=lambda ps: "+".join(p.name for p in ps))
def test_overlays_validate_on_quick_and_never_overwrite_its_results(overlays):
    """Each file of config/overlays/ (and the two scarcity overlays together) lays over quick as ``make
    quick OVERLAY=...`` passes it (after config/quick.yaml, to persim.config and to snakemake), and
    writes beside quick's results, not over them; or, sharing quick's outdir, only adds Tables 14-16
    trials, at more N or more trials per N (no quick job reruns)."""
    import subprocess

    quick, both = _quick(), _quick(*overlays)
    if both["outdir"] == quick["outdir"]:
        qs, bs = quick["data_scarcity"], both["data_scarcity"]
        assert set(qs["n_agents"]) <= set(bs["n_agents"]) and bs["n_trials"] >= qs["n_trials"]
        assert (set(bs["n_agents"]), bs["n_trials"]) != (set(qs["n_agents"]), qs["n_trials"])  # it adds trials
        assert {**both, "data_scarcity": {**bs, "n_agents": qs["n_agents"], "n_trials": qs["n_trials"]}} == quick
        from persim.reporting.scope import main_run_n

        assert main_run_n(both) == main_run_n(quick)  # the workflow's parse-time check (the main run stands for its N)
    else:
        assert both["run_name"] != quick["run_name"]
    rel = " ".join(str(p.relative_to(REPO)) for p in overlays)
    dry = subprocess.run(["make", "-n", "quick", f"OVERLAY={rel}", "ENVS=mountaincar"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    assert f"-m persim.config config/quick.yaml {rel}" in dry
    assert f"--configfile config/quick.yaml {rel} --config 'envs=[mountaincar]'" in dry
    # make report with the same OVERLAY reports on that run: its files, into its own outdir
    from persim.config_check import outdir

    assert outdir(["config/quick.yaml", *rel.split()]) == both["outdir"].rstrip("/")
    report = " ".join(subprocess.run(["make", "-n", "report", f"OVERLAY={rel}"], cwd=REPO,
                                     capture_output=True, text=True, check=True).stdout.split())
    assert f"-m persim.config_check --outdir config/quick.yaml {rel}" in report
    assert f"--configfile config/quick.yaml {rel} --report $outdir/report.html" in report


def test_mountaincar_overlay_plans_every_mountaincar_mpc_method_at_200_x_50():
    from persim.config import mpc_budget_note, mpc_settings

    quick, both = _quick(), _quick(REPO / "config/overlays/mountaincar-200x50.yaml")
    mc = mpc_settings(both, "mountaincar")
    assert (mc["n_candidates"], mc["horizon"], mc["warm_start"]) == (200, 50, True)
    for env in ("cartpole", "halfcheetah"):  # the other envs as quick plans them
        assert mpc_settings(both, env) == mpc_settings(quick, env)
    assert "MountainCar 200 x 50" in mpc_budget_note(both, ["mountaincar", "cartpole"])


def test_per_env_planner_budget_overrides_the_action_kind():
    """evaluation.reward.mpc.env.<env> overrides the discrete / continuous budget for that env only; every
    MPC method of the run plans with it, and the tables' captions state it."""
    from persim.config import check_config, mpc_budget_note, mpc_settings

    quick = load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml")
    assert {k: mpc_settings(quick, "cartpole")[k] for k in ("n_candidates", "horizon")} == {"n_candidates": 50,
                                                                                          "horizon": 50}
    mc = mpc_settings(quick, "mountaincar")
    assert (mc["n_candidates"], mc["horizon"], mc["warm_start"]) == (100, 25, True)  # the discrete settings
    assert "CartPole 50 x 50" in mpc_budget_note(quick, ["mountaincar", "cartpole"])
    bad = merge(quick, {"evaluation": {"reward": {"mpc": {"env": {"cartpole": {"n_candidate": 5}}}}}})
    with pytest.raises(ConfigError, match="n_candidate"):
        check_config(bad)
    with pytest.raises(ConfigError, match="pendulum"):
        check_config(merge(quick, {"evaluation": {"reward": {"mpc": {"env": {"pendulum": {"horizon": 5}}}}}}))


def test_synthetic_trajectories_plan_with_their_own_budget_where_set():
    """augmentation.mpc.<env> sets the planner of Table 3's synthetic trajectories on top of the reward
    evaluation's (quick: the paper's 1000 candidates on MountainCar and CartPole, where a plan runs once
    per executed horizon); the horizon is always augmentation.horizon; Table 3's caption says which."""
    from persim.config import augmentation_budget_note, augmentation_mpc_settings, check_config, mpc_settings

    quick = load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml")
    cp = augmentation_mpc_settings(quick, "cartpole")
    assert (cp["n_candidates"], cp["horizon"], cp["warm_start"]) == (1000, 50, True)
    assert mpc_settings(quick, "cartpole")["n_candidates"] == 50  # the reward evaluation keeps its budget
    hc = augmentation_mpc_settings(quick, "halfcheetah")  # no override: the reward evaluation's planner
    assert {k: hc[k] for k in ("n_candidates", "cem_iterations", "horizon")} == {
        "n_candidates": 20, "cem_iterations": 1, "horizon": 30}
    paper = load_config(REPO / "config/config.yaml")
    assert augmentation_mpc_settings(paper, "mountaincar") == {**mpc_settings(paper, "mountaincar"), "horizon": 50}
    assert augmentation_budget_note(quick, ["mountaincar", "halfcheetah"]) == (
        "synthetic trajectories planned at (candidates x horizon) MountainCar 1000 x 50, "
        "HalfCheetah 20 x 30 x 1 CEM it.")
    with pytest.raises(ConfigError, match="augmentation.mpc.cartpole.horizon"):  # that is augmentation.horizon
        check_config(merge(quick, {"augmentation": {"mpc": {"cartpole": {"horizon": 10}}}}))


def test_reference_budget_adds_a_true_env_row_at_the_papers_budget():
    """evaluation.reward.reference_mpc.<env> plans a second True env + MPC row at that budget (on top
    of the env's settings); envs without it have none; the captions' budget note names it."""
    from persim.config import check_config
    from persim.reference_budget import reference_budget_note, reference_methods, reference_mpc_settings

    quick = load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml")
    ref = reference_mpc_settings(quick, "mountaincar")
    assert (ref["n_candidates"], ref["horizon"], ref["warm_start"]) == (1000, 50, True)  # the paper's planner
    assert reference_mpc_settings(quick, "halfcheetah") is None
    paper = load_config(REPO / "config/config.yaml")
    assert reference_mpc_settings(paper, "mountaincar") is None and reference_budget_note(paper, ["mountaincar"]) == ""
    assert reference_budget_note(quick, ["mountaincar", "cartpole", "halfcheetah"]) == (
        " The rows marked 'reference budget' (True env+MPC, PerSim) plan at MountainCar 1000 x 50, CartPole 1000 x 50"
        " (candidates x horizon); PerSim there with 2 MPC episodes per seed.")  # 10 in its rows at quick's budget
    no_extra = copy.deepcopy(quick)
    del no_extra["evaluation"]["reward"]["method_episodes"]
    assert reference_budget_note(no_extra, ["mountaincar"]).endswith("MountainCar 1000 x 50 (candidates x horizon).")
    # PerSim plans there too, where the env has a reference budget; a method the run lacks is named
    assert reference_methods(quick, "mountaincar") == ["persim"] and reference_methods(quick, "halfcheetah") == []
    assert reference_methods(paper, "mountaincar") == []
    bad = merge(quick, {"evaluation": {"reward": {"reference_methods": ["persim", "bcq_p"]}}})
    with pytest.raises(ValueError, match=r"evaluation.reward.reference_methods.*\['bcq_p'\]"):
        reference_methods(bad, "mountaincar")
    with pytest.raises(ConfigError, match="reference_mpc.mountaincar.candidates"):
        check_config(merge(quick, {"evaluation": {"reward": {"reference_mpc": {"mountaincar": {"candidates": 5}}}}}))


def test_method_episodes_give_a_cheap_planner_more_episodes_per_seed():
    """evaluation.reward.method_episodes.<method>.<env> sets that simulator's MPC episodes per seed on
    that env (quick: PerSim 10 on MountainCar and CartPole); every other pair keeps n_episodes, the
    captions name the exceptions, and a method that does not plan, or a bad count, names its key."""
    from persim.config import check_config, check_method_episodes, mpc_episodes, mpc_episodes_note

    quick = load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml")
    n = quick["evaluation"]["reward"]["n_episodes"]
    assert (mpc_episodes(quick, "persim", "mountaincar"), mpc_episodes(quick, "persim", "cartpole")) == (10, 10)
    assert mpc_episodes(quick, "persim", "halfcheetah") == n and mpc_episodes(quick, "cadm_pets", "mountaincar") == n
    assert mpc_episodes_note(quick, ["mountaincar", "cartpole", "halfcheetah"]) == " (PerSim: 10 on MountainCar, CartPole)"
    assert mpc_episodes_note(quick, ["halfcheetah"]) == ""
    paper = load_config(REPO / "config/config.yaml")
    assert mpc_episodes(paper, "persim", "mountaincar") == paper["evaluation"]["reward"]["n_episodes"] == 20
    check_method_episodes(quick)
    with pytest.raises(ConfigError, match=r"'evaluation.reward.method_episodes.bcq_p': not a simulator method"):
        check_method_episodes(merge(quick, {"evaluation": {"reward": {"method_episodes": {"bcq_p": {"cartpole": 5}}}}}))
    with pytest.raises(ConfigError, match=r"method_episodes.persim.mountaincar"):
        check_config(merge(quick, {"evaluation": {"reward": {"method_episodes": {"persim": {"mountaincar": 0}}}}}))


def test_captions_list_every_training_setting_that_differs_from_the_paper_profile():
    """A reduced run says so: per method the fields of its built config that differ from the paper
    profile's (config/config.yaml), grouped over envs and methods; the paper profile itself lists none."""
    from persim.scale import paper_profile, section_note, training_note

    paper, quick = paper_profile(), load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml")
    envs = ["mountaincar", "cartpole", "halfcheetah"]
    note = training_note(quick, paper, ["persim", "cadm_pets", "bcq_p", "persim_bcq_5"], envs)
    assert note.startswith("Training settings that differ from the paper profile (config/config.yaml")
    assert "PerSim — HalfCheetah: epochs 10 (300)" in note  # MountainCar and CartPole train as the paper does
    assert "PE-TS CaDM — MountainCar, CartPole: n_particles 5 (20), hidden 4 x 128 (4 x 200)" in note
    assert "HalfCheetah: n_particles 5 (20)" in note and "epochs 1 (200)" in note
    assert "BCQ-P, PerSim-BCQ-5 — MountainCar, CartPole: n_steps 3000 (550000)" in note  # one text, said once
    assert training_note(paper, paper, ["persim", "cadm_pets", "bcq_p", "morel_a"], envs) == ""
    policies = section_note(quick, paper, "policies.halfcheetah", "HalfCheetah policy training settings")
    assert "n_steps 8000 (300000)" in policies and policies.startswith("HalfCheetah policy training settings")
    assert section_note(paper, paper, "policies.halfcheetah", "x") == ""
    changed = merge(paper, {"evaluation": {"prediction": {"n_rollouts": 7}}})
    assert section_note(changed, paper, "evaluation.prediction", "Prediction test settings").endswith(
        "n_rollouts 7 (200)")


def test_the_main_runs_n_listed_among_the_trials_trains_only_its_other_trials(workflow_copy):
    """Smoke's main run (8 agents) stands as N = 8's trial 0 (data_scarcity.main_run_trial); listing 8 in
    data_scarcity.n_agents too trains trials 1 to n_trials - 1 of it, never a second trial 0. Refused,
    naming the key, while the main run's seeds plan on retrained simulators (smoke's retrain_per_seed)."""
    extra = workflow_copy / "n8.yaml"
    extra.write_text("data_scarcity: {n_agents: [25, 8]}\n")
    res = snakemake(workflow_copy, "-n", "--configfile", "config/smoke.yaml", str(extra))
    assert res.returncode != 0 and "config key 'data_scarcity.main_run_trial': N = 8" in res.stdout + res.stderr
    extra.write_text("data_scarcity: {n_agents: [25, 8]}\nevaluation: {reward: {retrain_per_seed: false}}\n")
    res = snakemake(workflow_copy, "-n", "--configfile", "config/smoke.yaml", str(extra))
    assert res.returncode == 0, res.stderr[-2000:]
    for env in ("mountaincar", "cartpole", "halfcheetah"):
        assert f"results/smoke/{env}/scarcity/n8_t1/agents.parquet" in res.stdout
        assert f"results/smoke/{env}/scarcity/n25_t0/agents.parquet" in res.stdout
    assert "scarcity/n8_t0/" not in res.stdout


@pytest.mark.parametrize("overlay, message", [
    ("evaluation: {reward: {mpc: {continuous: {n_candidates: 5, n_elites: 50}}}}",
     r"'evaluation.reward.mpc \(halfcheetah\)': n_elites must be between 1 and n_candidates \(5\)"),
    ("evaluation: {reward: {mpc: {continuous: {n_elites: 1, cem_iterations: 3}}}}",
     r"'evaluation.reward.mpc \(halfcheetah\)': n_elites must be >= 2 with cem_iterations 3"),
    ("evaluation: {reward: {mpc: {continuous: {init_std_low: 0.9, init_std_high: 0.1}}}}",
     r"need 0 < init_std_low <= init_std_high"),
    ("unseen_agents: {covariates: [{gravty: 0.001}]}", r"'unseen_agents.covariates.0'.*\['gravity'\]"),
    ("seed: 1\nseed: 2\n", r"line 2, column 1: .*duplicate key 'seed'"),
])
def test_settings_a_job_would_fail_on_stop_the_config_check(tmp_path, capsys, overlay, message):
    """Planner settings that cannot plan (more CEM elites than candidates, one elite over several
    iterations, an inverted initial std), a misspelt unseen agent's covariate and a key given twice stop
    `python -m persim.config` (half of `make check-config`, also run where Snakemake parses the workflow)
    with one line naming the key, instead of a traceback inside a job or a silently dropped value."""
    from persim.config import main

    (tmp_path / "bad.yaml").write_text(overlay)
    assert main([str(REPO / "config/quick.yaml")]) == 0
    assert main([str(REPO / "config/quick.yaml"), str(tmp_path / "bad.yaml")]) == 1
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_config_checks_answer_help():
    from persim.config import main
    from persim.config_check import main as check_main

    assert main(["--help"]) == 0 and check_main(["-h"]) == 0
