"""The method protocol: registry rows, the Simulator / PolicySet protocols, settings checked at parse
time, and rerun hashes derived from the imports."""
import logging
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import REPO, job_counts, snakemake
from persim.baselines.cadm import CaDMConfig, CaDMNet, CaDMSimulator
from persim.codehash import closure, code_hash
import persim.methods as methods_module
from persim.config import ConfigError, check_config, load_config, merge
from persim.data.schema import OfflineDataset
from persim.evaluation.prediction import TestRollouts as Rollouts
from persim.evaluation.prediction import evaluate_prediction
from persim.evaluation.reward import model_step_factory
from persim.methods import (
    METHODS, POLICY, POLICY_METHODS, REGISTRY, SIMULATOR, SIMULATOR_METHODS, MethodSpec, check_method_settings,
    get_method, table3_methods,
)
from persim.models.persim import PerSimConfig, PerSimNet, PerSimSimulator
from persim.protocols import PolicySet, Simulator
from persim.reporting.labels import PREDICTION_METHODS, REWARD_METHODS


def test_registry_is_the_one_source_of_names_and_labels():
    assert list(SIMULATOR_METHODS) == ["persim", "cadm_vanilla", "cadm_pets"]
    assert list(POLICY_METHODS) == ["bcq_p", "bcq_a", "cql_p", "cql_a", "morel_p", "morel_a", "persim_bcq_5",
                                    "persim_cql_5"]
    assert table3_methods(["persim_bcq_5", "persim_cql_5"]) == ["bcq_p", "bcq_a", "persim_bcq_5", "cql_p", "cql_a",
                                                                "persim_cql_5"]
    assert PREDICTION_METHODS == ("PerSim", "Vanilla CaDM", "PE-TS CaDM")
    assert REWARD_METHODS == tuple(m.label for m in REGISTRY if not m.synthetic_from)  # Tables 2, 9-11
    config = load_config()
    assert set(config["methods"]["simulators"]) <= set(SIMULATOR_METHODS)
    with pytest.raises(KeyError, match="unknown method 'cadm_petz'"):
        get_method("cadm_petz")


def test_schema_enums_come_from_the_registry(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("methods: {simulators: [persim, cadm_petz]}\nbaselines: {cadm: {variants: {cadm_pet: {}}}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(REPO / "config/config.yaml", bad)
    assert "methods.simulators.1" in str(err.value) and "cadm_petz" in str(err.value)
    assert "baselines.cadm.variants" in str(err.value) and "cadm_pet" in str(err.value)


def _cadm(variant: str) -> CaDMSimulator:
    extra = {"probabilistic": True, "n_members": 2, "n_particles": 4} if variant == "pets" else {}
    cfg = CaDMConfig(hidden=(16,), context_hidden=(8,), context_length=3, context_dim=4, weight_decay=1e-5,
                     context_weight_decay=1e-5, **extra)
    torch.manual_seed(0)
    net = CaDMNet(obs_dim=2, n_actions=3, action_dim=0, cfg=cfg)
    return CaDMSimulator(net, cfg, {"obs_dim": 2, "n_actions": 3, "action_dim": 0})


def _persim() -> PerSimSimulator:
    torch.manual_seed(0)
    cfg = PerSimConfig(rank=2, n_members=3, state_hidden=[8])
    meta = {"n_agents": 4, "obs_dim": 2, "n_actions": 3, "action_dim": 0}
    return PerSimSimulator(PerSimNet(4, 2, 3, 0, cfg), cfg, meta)


@pytest.mark.parametrize("method", ["persim", "cadm_vanilla", "cadm_pets"])
def test_every_simulator_speaks_the_protocol(method, tmp_path):
    sim = _persim() if method == "persim" else _cadm("pets" if method == "cadm_pets" else "vanilla")
    assert isinstance(sim, Simulator)
    b, k = 5, sim.context_length
    states, actions, agents = torch.randn(b, 2), torch.randint(0, 3, (b,)), torch.arange(b) % 4
    context = None
    if k:
        context = sim.encode_context(torch.randn(b, k, 2), torch.zeros(b, k, dtype=torch.int64), torch.randn(b, k, 2),
                                     torch.ones(b, k, dtype=torch.bool))
    members = sim.member_predictions(agents, states, actions, context)
    assert members.shape == (sim.n_members, b, 2)
    torch.testing.assert_close(sim.predict(agents, states, actions, context), members.mean(0))
    n_rows = 6  # candidates per episode: episode e owns rows e*6 .. e*6+5
    step = sim.planning_step(agents, n_rows, context, torch.Generator().manual_seed(0))
    nxt = step(states.repeat_interleave(n_rows, 0).expand(sim.planning_members, -1, -1),
               actions.repeat_interleave(n_rows))
    assert nxt.shape == (sim.planning_members, b * n_rows, 2) and torch.isfinite(nxt).all()
    sim.save(tmp_path / "model.pt")
    again = get_method(method).load(tmp_path / "model.pt")
    torch.testing.assert_close(again.predict(agents, states, actions, context), sim.predict(agents, states, actions,
                                                                                           context))


def test_policy_methods_load_as_policy_sets():
    assert all(get_method(m).kind == POLICY for m in POLICY_METHODS)
    from persim.baselines.policy_set import PolicySet as Impl

    class Const:
        def act(self, obs):
            return np.zeros(len(obs), dtype=np.int64)

        def state(self):
            return {}

    pset = Impl({"all": Const()}, {"method": "toy"})
    assert isinstance(pset, PolicySet) and pset.actor(3)(np.zeros((2, 4))).tolist() == [0, 0]


TOY_METHOD = '''
"""A throwaway simulator method: next state = state + scale * (mean Δs of the agent's own data)."""
from dataclasses import dataclass

import torch


@dataclass
class ToyConfig:
    scale: float = 1.0


class ToySimulator:
    n_members = planning_members = 1
    context_length = 0
    device = torch.device("cpu")

    def __init__(self, drift, cfg, meta):
        self.drift, self.cfg, self.meta = drift, cfg, meta

    def encode_context(self, *args):
        raise TypeError("no context")

    def member_predictions(self, agents, states, actions, context=None):
        agents = torch.as_tensor(agents, dtype=torch.int64)
        return (torch.as_tensor(states, dtype=torch.float32) + self.cfg.scale * self.drift[agents])[None]

    def predict(self, agents, states, actions, context=None):
        return self.member_predictions(agents, states, actions)[0]

    def planning_step(self, agents, n_rows, context=None, generator=None):
        rows = torch.as_tensor(agents, dtype=torch.int64).repeat_interleave(n_rows)
        return lambda states, actions: states + self.cfg.scale * self.drift[rows]

    def save(self, path):
        torch.save({"drift": self.drift, "scale": self.cfg.scale, "meta": self.meta}, path)


def make_config(settings, env, key, episode_steps, **options):
    from persim.config import build_dataclass
    return build_dataclass(ToyConfig, settings, key)


def train(ds, agents, cfg, seed, device="cpu", log=None, **options):
    delta = torch.as_tensor(ds.next_obs - ds.obs)
    ids = torch.as_tensor(ds.agent_ids)
    drift = torch.stack([delta[ids == a].mean(0) for a in range(len(agents))])
    return ToySimulator(drift, cfg, {"env": ds.env}), None


def load(path, device="cpu"):
    blob = torch.load(path, weights_only=False)
    return ToySimulator(blob["drift"], ToyConfig(blob["scale"]), blob["meta"])
'''


def test_a_new_method_is_its_module_and_one_registry_row(tmp_path, monkeypatch):
    """A method written from scratch plugs into training, saving, loading and both evaluations
    through the registry row and the protocols alone."""
    (tmp_path / "toy_method.py").write_text(textwrap.dedent(TOY_METHOD))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("toy_method", None)
    toy = MethodSpec("toy", "Toy", SIMULATOR, "toy_method", "baselines.toy",
                     lambda config, env, spec, origins=False: {"scale": "baselines.toy.scale" if origins else 0.5})
    n, steps = 3, 12  # agent a drifts by (a+1, 0) per step
    states = np.cumsum(np.tile([[1.0, 0.0]], (steps + 1, 1)), 0)[None] * (np.arange(n) + 1)[:, None, None]
    ds = OfflineDataset(env="mountaincar", path="<memory>", meta={}, agent_ids=np.repeat(np.arange(n), steps),
                        covariates=np.ones((n * steps, 1)), t=np.tile(np.arange(steps), n),
                        obs=states[:, :-1].reshape(-1, 2).astype(np.float32), actions=np.zeros(n * steps, np.int64),
                        rewards=np.zeros(n * steps), next_obs=states[:, 1:].reshape(-1, 2).astype(np.float32),
                        terminated=np.zeros(n * steps, bool), truncated=np.zeros(n * steps, bool))
    agents = pd.DataFrame({"agent_id": range(n), "test_agent": range(1, n + 1)})
    cfg = toy.make_config(toy.settings({}, "mountaincar"), "mountaincar", 60)
    sim, history = toy.train(ds, agents, cfg, 0, "cpu", logging.getLogger("test"))
    assert isinstance(sim, Simulator) and history is None
    sim.save(tmp_path / "model.pt")
    sim = toy.load(tmp_path / "model.pt")
    # prediction evaluation: agent 2 moves 3 per step, the toy predicts 0.5 x 3 -> error 1.5 k at step k
    ro = Rollouts(states[2:3, :9].astype(np.float32), np.zeros((1, 8), np.int64))
    res = evaluate_prediction(sim, 2, ro, warmup=2, horizon=6)
    expected = np.sqrt(np.mean([(1.5 * k) ** 2 / 2 for k in range(1, 7)]))
    assert res["rmse"] == pytest.approx(expected, rel=1e-5)
    # MPC's step factory: two episodes of agents 0 and 2, four candidates each
    step = model_step_factory(sim, np.array([0, 2]), 4)(np.array([0, 1]), None)
    out = step(torch.zeros(1, 8, 2), torch.zeros(8, dtype=torch.int64))
    assert out[0, :4, 0].tolist() == [0.5] * 4 and out[0, 4:, 0].tolist() == [1.5] * 4
    with pytest.raises(ConfigError, match=r"baselines\.toy\.scal"):
        toy.make_config({"scal": 1.0}, "mountaincar", 60)
    # its settings section, baselines.toy, is accepted by the schema once the row is registered
    config = merge(load_config(), {"baselines": {"toy": {"common": {"scale": 0.5}}}})
    with pytest.raises(ConfigError, match=r"baselines"):
        check_config(config)
    monkeypatch.setattr(methods_module, "REGISTRY", [*methods_module.REGISTRY, toy])
    check_config(config)


def test_unknown_or_invalid_method_settings_name_their_key():
    config = load_config()
    config["baselines"]["bcq"]["common"]["n_stepz"] = 3
    config["baselines"]["cadm"].setdefault("variants", {})["cadm_pets"] = {"n_members": 5, "n_particles": 7}
    with pytest.raises(ConfigError) as err:
        check_method_settings(config, ["cartpole"], list(METHODS))
    text = str(err.value)
    assert "'baselines.bcq.common.n_stepz': unknown setting of bcq_p, bcq_a" in text
    assert "cadm.n_particles (7) must be a multiple of cadm.n_members (5)" in text and "cadm_pets" in text
    assert "cql" not in text.split("known")[0]
    assert "set at baselines.cadm.variants.cadm_pets.n_members, baselines.cadm.variants.cadm_pets.n_particles" in text


def test_one_invalid_setting_is_one_line_naming_its_full_key():
    """A bad value shared by several methods and envs is reported once, at the key where it is set,
    with the methods and envs it reaches (not one line per method and env naming only the section)."""
    config = load_config()
    config["baselines"]["cadm"]["common"]["epochs"] = 0
    with pytest.raises(ConfigError) as err:
        check_method_settings(config, ["mountaincar", "cartpole"], ["cadm_vanilla", "cadm_pets"])
    lines = str(err.value).splitlines()[1:]
    assert len(lines) == 1 and "(set at baselines.cadm.common.epochs)" in lines[0]
    assert lines[0].endswith("(methods cadm_vanilla, cadm_pets; envs mountaincar, cartpole)")


def test_a_variant_can_override_one_env_and_the_captions_say_so():
    """``variants.<method>.env.<env>`` is the last layer: quick's BCQ-P / CQL-P get 3,000 updates on
    MountainCar and CartPole while HalfCheetah keeps its env setting; a bad key or env there is named;
    the captions' note states every BCQ/CQL update count that differs."""
    from persim.config import baseline_settings, check_config, policy_updates_note

    quick = load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml")
    assert baseline_settings(quick, "cartpole", get_method("cql_p"))["n_steps"] == 3000
    assert baseline_settings(quick, "cartpole", get_method("cql_a"))["n_steps"] == 300
    assert baseline_settings(quick, "mountaincar", get_method("persim_bcq_5"))["n_steps"] == 3000
    assert baseline_settings(quick, "halfcheetah", get_method("cql_p"))["n_steps"] == 100
    assert (get_method("bcq_p").setting_keys(quick, "mountaincar")["n_steps"]
            == "baselines.bcq.variants.bcq_p.env.mountaincar.n_steps")
    note = policy_updates_note(quick, ["mountaincar", "halfcheetah"], quick["methods"]["policies"])
    assert note == ("BCQ/CQL gradient updates per policy (paper 550,000): MountainCar 300 (BCQ-P, CQL-P: 3,000), "
                    "HalfCheetah 100")
    assert policy_updates_note(quick, ["cartpole"], ["morel_p"]) == ""
    table3 = ["bcq_a", "bcq_p", "cql_a", "cql_p", "persim_bcq_5", "persim_cql_5"]  # most at 3,000: -A named
    assert policy_updates_note(quick, ["cartpole"], table3).endswith("CartPole 3,000 (BCQ-A, CQL-A: 300)")
    quick["baselines"]["cql"]["variants"]["cql_p"]["env"]["cartpole"]["n_stepz"] = 5
    with pytest.raises(ConfigError, match=r"baselines\.cql\.variants\.cql_p\.env\.cartpole\.n_stepz"):
        check_method_settings(quick, ["cartpole"], ["cql_p"])
    quick["baselines"]["cql"]["variants"]["cql_p"]["env"] = {"pendulum": {"n_steps": 5}}
    with pytest.raises(ConfigError, match="pendulum"):
        check_config(quick)


def test_snakemake_dry_run_stops_on_an_unknown_method_setting(workflow_copy):
    bad = workflow_copy / "bad.yaml"
    bad.write_text("baselines: {bcq: {common: {n_stepz: 3}}}\n")
    res = snakemake(workflow_copy, "-n", "--configfile", "config/smoke.yaml", str(bad))
    assert res.returncode != 0
    assert "config key 'baselines.bcq.common.n_stepz'" in res.stdout + res.stderr
    assert job_counts(res.stdout) == {}  # stopped while parsing: no job planned


def test_code_hash_follows_the_imports(tmp_path):
    pkg = REPO / "persim"
    files = {p.relative_to(pkg).as_posix() for p in closure([REPO / "scripts/eval_prediction.py"], pkg)}
    assert {"evaluation/prediction.py", "evaluation/history.py", "methods.py", "protocols.py", "__init__.py",
            "evaluation/__init__.py"} <= files
    assert "baselines/cadm.py" not in files and "models/persim.py" not in files  # registry imports by name
    cadm = {p.relative_to(pkg).as_posix() for p in closure(["persim.baselines.cadm"], pkg)}
    assert "baselines/cadm.py" in cadm and "baselines/morel.py" not in cadm

    copy = tmp_path / "repo"
    shutil.copytree(pkg, copy / "persim")
    shutil.copytree(REPO / "scripts", copy / "scripts")
    jobs = {("eval_prediction.py", m) for m in SIMULATOR_METHODS} | {("train_method.py", m) for m in METHODS} | {
        ("test_rollouts.py", None), ("table5.py", None)}

    def hashes():
        return {(s, m): code_hash([copy / "scripts" / s] + ([get_method(m).module] if m else []), copy / "persim")
                for s, m in jobs}

    before = hashes()
    (copy / "persim/baselines/cadm.py").write_text((copy / "persim/baselines/cadm.py").read_text() + "\n# edit\n")
    after = hashes()
    assert {k for k in jobs if before[k] != after[k]} == {(s, m) for s in ("eval_prediction.py", "train_method.py")
                                                          for m in ("cadm_vanilla", "cadm_pets")}
    (copy / "persim/evaluation/prediction.py").write_text("# edit\n" + (copy / "persim/evaluation/prediction.py")
                                                          .read_text())
    changed = {k for k in jobs if after[k] != hashes()[k]}
    assert changed == {k for k in jobs if k[0] in ("eval_prediction.py", "test_rollouts.py")}
    # the C kernel PerSim's planning builds is part of the code of every job that imports its module
    before = hashes()
    (copy / "persim/models/native_step.c").write_text((copy / "persim/models/native_step.c").read_text() + "\n")
    changed = {k for k in jobs if before[k] != hashes()[k]}
    assert ("train_method.py", "persim") in changed and ("eval_prediction.py", "persim") in changed
    assert ("table5.py", None) not in changed  # imports no model


def test_method_names_live_only_in_the_registry_config_and_own_module():
    """``grep -rlw <name> persim rules scripts config``: the registry, config files, its own module."""
    for spec in REGISTRY:
        if spec.name == "persim":  # also the package's name
            continue
        own = Path(*spec.module.split(".")).with_suffix(".py").as_posix()
        hits = set()
        for root in ("persim", "rules", "scripts", "config"):
            for path in (REPO / root).rglob("*"):
                if path.is_file() and path.suffix in (".py", ".smk", ".yaml", ".csv") and "data" not in path.parts:
                    words = set(path.read_text(errors="ignore").replace(".", " ").split())
                    if any(w.strip("\"'`,:()[]{}") == spec.name for w in words):
                        hits.add(path.relative_to(REPO).as_posix())
        allowed = {"persim/methods.py", own}
        assert {h for h in hits if not h.startswith("config/")} <= allowed, (spec.name, hits)


def test_check_config_covers_the_extended_experiments_methods(tmp_path, capsys):
    """`python -m persim.config` (the first half of `make check-config`) checks every method a run trains: a typo under
    Table 3's PerSim-BCQ-5 variant (a method in `augmentation.methods`, not in `methods.policies`) is
    named before any job starts."""
    from persim.config import main
    from persim.methods import run_methods

    quick = load_config(REPO / "config/config.yaml", REPO / "config/quick.yaml")
    names = run_methods(quick)
    assert {"persim_bcq_5", "persim_cql_5", "cadm_pets", "bcq_p"} <= set(names) and len(names) == len(set(names))
    bad = tmp_path / "bad.yaml"
    bad.write_text("baselines: {bcq: {variants: {persim_bcq_5: {env: {mountaincar: {n_stepz: 5}}}}}}\n")
    assert main([str(REPO / "config/quick.yaml"), str(bad)]) == 1
    assert "baselines.bcq.variants.persim_bcq_5.env.mountaincar.n_stepz" in capsys.readouterr().err
    assert main([str(REPO / "config/quick.yaml")]) == 0


def test_check_config_runs_the_workflows_own_checks(tmp_path, capsys):
    """`make check-config` (`python -m persim.config_check`) also runs the checks that only the parsed
    workflow makes (rules/common.smk): a setting the schema allows but the run contradicts is refused
    with the config key and no Snakemake traceback; the quick profile passes."""
    from persim.config_check import main

    both = tmp_path / "both.yaml"  # N = 100 as scarcity trials while the main run, which retrains per seed, stands for it
    both.write_text("data_scarcity: {n_agents: [100, 50]}\nevaluation: {reward: {retrain_per_seed: true}}\n")
    assert main([str(REPO / "config/quick.yaml"), str(both)]) == 1
    err = capsys.readouterr().err
    assert "config key 'data_scarcity.main_run_trial'" in err and "File \"" not in err
    unknown = tmp_path / "ref.yaml"
    unknown.write_text("evaluation: {reward: {reference_methods: [persimm]}}\n")
    assert main([str(REPO / "config/quick.yaml"), str(unknown)]) == 1
    assert "config key 'evaluation.reward.reference_methods'" in capsys.readouterr().err
    assert main([str(REPO / "config/quick.yaml")]) == 0
    assert "workflow ok" in capsys.readouterr().out


def test_config_check_keeps_the_message_and_drops_the_traceback():
    from persim.config_check import parse_error

    err = ("Using workflow specific profile profiles/default for setting default command line arguments.\n"
           "Config file config/config.yaml is extended by additional config specified via the command line.\n"
           "note: results/quick holds Tables 14-16 trials (n250_t0) that this config's data_scarcity ...\n"
           "Traceback (most recent call last):\n  File \"/x/common.smk\", line 100, in <module>\n"
           "    MAIN_N = main_run_n(config)\n             ^^^^^^^^^^\n"
           "ConfigError: config key 'data_scarcity.main_run_trial': bad\n"
           "Config file must be given as JSON or YAML with keys at top level.\n")
    assert parse_error(err).splitlines() == ["ConfigError: config key 'data_scarcity.main_run_trial': bad",
                                             "Config file must be given as JSON or YAML with keys at top level."]
    assert parse_error("  File \"x\", line 1\n") == "File \"x\", line 1"  # nothing left: all of it
