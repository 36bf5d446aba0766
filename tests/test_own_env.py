"""Your own heterogeneous-agent data: a registered env family trains the registry's methods, scores
their open-loop predictions and plans on them, with no change to the package (README, "Your own
environment and data").

The toy family: a spring-mass cart, state (x, v), actions 0 / 1 / 2 push left / not / right, and a
per-agent spring constant k (a covariate PerSim never sees: it learns an agent factor per id):
    v' = 0.9 v + 0.1 (a - 1) - 0.1 k x,   x' = x + 0.1 v'.
"""
from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

from persim.data.schema import DatasetError, load_dataset, write_dataset
from persim.envs import ENV_NAMES, SPECS, EnvSpec, get_spec, make, register_env, unregister_env
from persim.evaluation.prediction import TestRollouts as Rollouts
from persim.evaluation.prediction import collect_rollouts, evaluate_prediction
from persim.methods import get_method
from persim.planning.factory import make_planner
from persim.planning.rewards import register_reward, unregister_reward

ENV, N_AGENTS, LENGTH, TARGET = "toy_spring", 40, 60, 1.0


def spring_step(states: np.ndarray, actions: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Next states ``[B, 2]`` of states ``[B, 2]`` under int actions ``[B]`` for spring constants ``[B]``."""
    x, v = states[:, 0], states[:, 1]
    v2 = 0.9 * v + 0.1 * (actions - 1) - 0.1 * k * x
    return np.stack([x + 0.1 * v2, v2], axis=1)


class SpringEnv(gym.Env):
    """The toy family as a gymnasium env (covariate ``k`` as keyword argument), reward as :func:`spring_reward`."""

    def __init__(self, k: float = 1.0):
        self.k = float(k)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self.np_random.uniform(-1, 1, size=(1, 2))
        return self.state[0].astype(np.float32), {}

    def step(self, action):
        self.state = spring_step(self.state, np.array([int(action)]), np.array([self.k]))
        return self.state[0].astype(np.float32), -float((self.state[0, 0] - TARGET) ** 2), False, False, {}


def spring_reward(states, actions, next_states):
    """Stay at x = TARGET: ``-(x' - TARGET)^2``, never terminal (torch, any leading shape)."""
    x = next_states[..., 0]
    return -(x - TARGET).square(), torch.zeros_like(x, dtype=torch.bool)


def trajectories(k: np.ndarray, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform-random-action trajectories, one per entry of ``k``: states ``[B, L+1, 2]``, actions ``[B, L]``."""
    rng = np.random.default_rng(seed)
    states = [rng.uniform(-1, 1, size=(len(k), 2))]
    actions = rng.integers(3, size=(len(k), length))
    for t in range(length):
        states.append(spring_step(states[-1], actions[:, t], k))
    return np.stack(states, axis=1), actions


def dataset_frame(k: np.ndarray) -> pd.DataFrame:
    """One trajectory per agent in the dataset schema (README, "Dataset schema")."""
    states, actions = trajectories(k, LENGTH, seed=0)
    n = len(k)
    frame = pd.DataFrame({
        "agent_id": np.repeat(np.arange(n), LENGTH).astype(np.int64),
        "k": np.repeat(k, LENGTH).astype(np.float64),
        "t": np.tile(np.arange(LENGTH), n).astype(np.int64),
        "obs_0": states[:, :-1, 0].ravel().astype(np.float32), "obs_1": states[:, :-1, 1].ravel().astype(np.float32),
        "action": actions.ravel().astype(np.int64),
    })
    frame["reward"] = -(states[:, 1:, 0].ravel() - TARGET) ** 2
    frame["next_obs_0"] = states[:, 1:, 0].ravel().astype(np.float32)
    frame["next_obs_1"] = states[:, 1:, 1].ravel().astype(np.float32)
    frame["terminated"] = False
    frame["truncated"] = frame["t"] == LENGTH - 1
    return frame


@pytest.fixture
def spring_env():
    """Registers the toy family for one test, and removes it again."""
    spec = register_env(EnvSpec.for_data(ENV, obs_dim=2, n_actions=3, covariates=("k",), low=(0.5,), high=(2.0,),
                                         max_episode_steps=LENGTH, label="Spring"), entry_point=SpringEnv)
    register_reward(ENV, spring_reward)
    yield spec
    unregister_env(ENV)
    unregister_reward(ENV)
    assert ENV not in SPECS and spec.gym_id not in gym.registry


@pytest.fixture
def spring_data(spring_env, tmp_path):
    k = np.random.default_rng(1).uniform(0.5, 2.0, N_AGENTS)
    path = tmp_path / "spring.parquet"
    write_dataset(dataset_frame(k), path, {"env": ENV, "behaviour": "random"})
    agents = pd.DataFrame({"agent_id": np.arange(N_AGENTS), "k": k, "test_agent": [1, 2, 3] + [0] * (N_AGENTS - 3)})
    return load_dataset(path, env=ENV, n_agents=N_AGENTS), agents, k


def test_a_spec_with_inconsistent_fields_is_refused_naming_them():
    with pytest.raises(ValueError, match="continuous actions need"):
        register_env(EnvSpec.for_data("bad_one", obs_dim=2, n_actions=0))  # continuous without bounds
    with pytest.raises(ValueError, match="one value per covariate"):
        register_env(EnvSpec.for_data("bad_two", obs_dim=2, n_actions=2, covariates=("k",)))
    with pytest.raises(ValueError, match="paper's"):
        register_env(EnvSpec.for_data("cartpole", obs_dim=4, n_actions=2))
    with pytest.raises(ValueError, match="paper's"):  # nor its gymnasium id
        register_env(dataclasses.replace(EnvSpec.for_data("pole", obs_dim=4, n_actions=2),
                                         gym_id=get_spec("cartpole").gym_id), entry_point=SpringEnv, replace=True)
    assert "pole" not in SPECS and gym.spec(get_spec("cartpole").gym_id).entry_point.endswith("HeterogeneousCartPole")
    with pytest.raises(ValueError, match="n_actions must be >= 0"):
        EnvSpec.for_data("bad_three", obs_dim=2, n_actions=-3)
    with pytest.raises(ValueError, match="discrete"):
        EnvSpec.for_data("bad_four", obs_dim=2, n_actions=2, action_low=(-1.0,), action_high=(1.0,))
    with pytest.raises(KeyError, match="bad_one"):
        get_spec("bad_one")


def test_a_family_without_a_gymnasium_env_is_data_only_and_may_have_no_covariates(tmp_path):
    """``EnvSpec.for_data`` without an entry point: datasets without covariate columns load, and
    ``make`` says the family has no env instead of failing somewhere in gymnasium."""
    register_env(EnvSpec.for_data("toy_bare", obs_dim=2, n_actions=3))
    try:
        frame = dataset_frame(np.ones(4)).drop(columns="k")
        write_dataset(frame, tmp_path / "bare.parquet", {"env": "toy_bare"})
        ds = load_dataset(tmp_path / "bare.parquet", env="toy_bare")
        assert ds.covariates.shape == (4 * LENGTH, 0)
        with pytest.raises(ValueError, match="without a gymnasium entry point"):
            make("toy_bare")
    finally:
        unregister_env("toy_bare")


def test_a_registered_gymnasium_env_gives_test_rollouts(spring_env):
    """With an entry point, ``make`` builds the family's env and the prediction evaluation's true
    rollouts come from it, stepping as the toy dynamics do."""
    env = make(ENV, k=1.5)
    assert env.unwrapped.k == 1.5 and env.spec.max_episode_steps == LENGTH
    ro = collect_rollouts(ENV, {"k": 1.5}, lambda obs: np.full(len(obs), 2), n_rollouts=3, length=10, seed=0)
    assert ro.states.shape == (3, 11, 2) and (ro.actions == 2).all()
    np.testing.assert_allclose(ro.states[:, 1:], spring_step(ro.states[:, :-1].reshape(-1, 2), np.full(30, 2),
                                                             np.full(30, 1.5)).reshape(3, 10, 2), rtol=1e-5, atol=1e-6)


def test_the_schema_validates_a_registered_envs_dataset(spring_data, tmp_path):
    ds, _, _ = spring_data
    assert ds.obs.shape == (N_AGENTS * LENGTH, 2) and ds.actions.shape == (N_AGENTS * LENGTH,)
    frame = dataset_frame(np.ones(3))
    frame.loc[5, "action"] = 3  # outside the registered 3 actions
    bad = tmp_path / "bad.parquet"
    write_dataset(frame, bad, {"env": ENV})
    with pytest.raises(DatasetError, match="action"):
        load_dataset(bad, env=ENV)


def test_persim_and_cadm_learn_a_registered_env_and_persim_plans_on_it(spring_data):
    """PerSim (from the registry, as the pipeline trains it) predicts an agent's held-out rollouts 20
    steps open loop far better than holding the state; Vanilla CaDM trains on the same data; MPC with
    the registered reward on PerSim's model holds the cart near x = 1 far better than random actions."""
    ds, agents, k = spring_data
    persim = get_method("persim")
    cfg = persim.make_config({"rank": 3, "state_hidden": [64], "action_hidden": [], "epochs": 100,
                              "batch_size": 64, "n_members": 2}, ENV, LENGTH)
    sim, history = persim.train(ds, agents, cfg, seed=0, device="cpu", log=None)
    assert history["train_mse"].iloc[-1] < 0.1 * history["train_mse"].iloc[0]

    agent = 2
    states, actions = trajectories(np.full(16, k[agent]), 30, seed=7)  # new starts and actions
    scores = evaluate_prediction(sim, agent, Rollouts(states.astype(np.float32), actions), warmup=5, horizon=20)
    hold = np.sqrt(((states[:, 6:26] - states[:, 5:6]) ** 2).mean(axis=(1, 2))).mean()
    assert scores["rmse"] < 0.25 * hold, (scores, hold)

    for name in ("cadm_vanilla", "cadm_pets"):  # the registry row's variant, as from the config
        cadm = get_method(name)
        ccfg = cadm.make_config({"epochs": 20, "hidden": [64, 64], "weight_decay": 0.0, "context_length": 5,
                                 "n_particles": 2 if name == "cadm_pets" else 1, "n_members": 2 if name == "cadm_pets"
                                 else 1}, ENV, LENGTH)
        assert ccfg.probabilistic == (name == "cadm_pets")
        csim, _ = cadm.train(ds, agents, ccfg, seed=0, device="cpu", log=None)
        crmse = evaluate_prediction(csim, agent, Rollouts(states.astype(np.float32), actions), warmup=5,
                                    horizon=20)["rmse"]
        assert crmse < 0.5 * hold, (name, crmse, hold)

    planner = make_planner(ENV, {"n_candidates": 200, "horizon": 15}, sim.planning_members, seed=0)
    planner.reset(1)
    step = sim.planning_step(torch.tensor([agent]), planner.cfg.n_candidates)
    rng = np.random.default_rng(3)
    mpc_state = rand_state = np.zeros((1, 2))
    mpc_cost = rand_cost = 0.0
    for _ in range(40):
        a = planner.act(step, torch.as_tensor(mpc_state, dtype=torch.float32)).numpy()
        mpc_state = spring_step(mpc_state, a, k[agent:agent + 1])
        rand_state = spring_step(rand_state, rng.integers(3, size=1), k[agent:agent + 1])
        mpc_cost += float((mpc_state[0, 0] - TARGET) ** 2)
        rand_cost += float((rand_state[0, 0] - TARGET) ** 2)
    assert mpc_cost < 0.5 * rand_cost, (mpc_cost, rand_cost)


def test_offline_rl_and_morel_train_on_a_registered_env(spring_data):
    """BCQ-P and CQL-A (d3rlpy) and MOReL-P train on the registered env's data and act in its action
    space; MOReL asks for its halt penalty, which no default can know for your reward."""
    ds, agents, _ = spring_data
    obs = ds.obs[:5]
    for name in ("bcq_p", "cql_a"):
        method = get_method(name)
        policies, _ = method.train(ds, agents, method.make_config({"n_steps": 20, "n_steps_per_epoch": 10}, ENV,
                                                                  LENGTH), seed=0, device="cpu", log=None)
        acts = np.asarray(policies.actor(int(agents.agent_id[1]))(obs))
        assert acts.shape == (5,) and set(acts.tolist()) <= {0, 1, 2}

    morel = get_method("morel_p")
    with pytest.raises(ValueError, match="kappa"):
        morel.make_config({}, ENV, LENGTH)
    mcfg = morel.make_config({"kappa": 100.0, "dyn_epochs": 2, "dyn_min_steps": 10, "iterations": 1, "n_envs": 4,
                              "rollout_length": 16, "ppo_epochs": 1, "minibatch_size": 32}, ENV, LENGTH)
    policies, _ = morel.train(ds, agents, mcfg, seed=0, device="cpu", log=None)
    acts = np.asarray(policies.actor(0)(obs))
    assert acts.shape == (5,) and set(acts.tolist()) <= {0, 1, 2}


def push_step(states: np.ndarray, force: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The spring family with a continuous force ``[B, 1]`` in [-2, 2]: ``v' = 0.9 v + 0.05 f - 0.1 k x``."""
    x, v = states[:, 0], states[:, 1]
    v2 = 0.9 * v + 0.05 * force[:, 0] - 0.1 * k * x
    return np.stack([x + 0.1 * v2, v2], axis=1)


def test_a_continuous_family_with_its_own_action_bounds(tmp_path):
    """Continuous actions in [-2, 2]: the dataset's bounds are checked, CEM plans inside the box and
    holds the cart near x = 1 better than random forces, BCQ-P acts inside the box, and MOReL (whose
    PPO acts in [-1, 1]) refuses the bounds by name."""
    env = "toy_push"
    register_env(EnvSpec.for_data(env, obs_dim=2, action_low=(-2.0,), action_high=(2.0,), max_episode_steps=LENGTH))
    register_reward(env, spring_reward)
    try:
        rng, k = np.random.default_rng(0), np.random.default_rng(1).uniform(0.5, 2.0, N_AGENTS)
        s, f = [rng.uniform(-1, 1, (N_AGENTS, 2))], rng.uniform(-2, 2, (N_AGENTS, LENGTH, 1))
        for t in range(LENGTH):
            s.append(push_step(s[-1], f[:, t], k))
        states = np.stack(s, 1)
        frame = dataset_frame(k).drop(columns=["action", "k"])
        frame["action_0"] = f.ravel().astype(np.float32)
        for i in range(2):
            frame[f"obs_{i}"] = states[:, :-1, i].ravel().astype(np.float32)
            frame[f"next_obs_{i}"] = states[:, 1:, i].ravel().astype(np.float32)
        write_dataset(frame, tmp_path / "push.parquet", {"env": env})
        ds = load_dataset(tmp_path / "push.parquet", env=env)
        agents = pd.DataFrame({"agent_id": np.arange(N_AGENTS), "test_agent": [1, 2, 3] + [0] * (N_AGENTS - 3)})
        bad = frame.copy()
        bad.loc[3, "action_0"] = 2.5
        write_dataset(bad, tmp_path / "bad.parquet", {"env": env})
        with pytest.raises(DatasetError, match="action_0"):
            load_dataset(tmp_path / "bad.parquet", env=env)

        persim = get_method("persim")
        sim, _ = persim.train(ds, agents, persim.make_config({"rank": 3, "state_hidden": [64], "action_hidden": [32],
                                                              "epochs": 100, "batch_size": 64, "n_members": 2},
                                                             env, LENGTH), seed=0, device="cpu", log=None)
        planner = make_planner(env, {"n_candidates": 100, "horizon": 10, "cem_iterations": 3, "n_elites": 10},
                               sim.planning_members, seed=0)
        planner.reset(1)
        step = sim.planning_step(torch.tensor([2]), planner.cfg.n_candidates)
        mpc_state = rand_state = np.zeros((1, 2))
        mpc_cost = rand_cost = 0.0
        forces = []
        for _ in range(40):
            a = planner.act(step, torch.as_tensor(mpc_state, dtype=torch.float32)).numpy()
            forces.append(a)
            mpc_state = push_step(mpc_state, a, k[2:3])
            rand_state = push_step(rand_state, rng.uniform(-2, 2, (1, 1)), k[2:3])
            mpc_cost += float((mpc_state[0, 0] - TARGET) ** 2)
            rand_cost += float((rand_state[0, 0] - TARGET) ** 2)
        forces = np.concatenate(forces)
        assert forces.min() >= -2 and forces.max() <= 2 and forces.max() > 1  # beyond [-1, 1]: the box is used
        assert mpc_cost < 0.5 * rand_cost, (mpc_cost, rand_cost)

        bcq = get_method("bcq_p")
        policies, _ = bcq.train(ds, agents, bcq.make_config({"n_steps": 10, "n_steps_per_epoch": 5}, env, LENGTH),
                                seed=0, device="cpu", log=None)
        acts = np.asarray(policies.actor(0)(ds.obs[:5]))
        assert acts.shape == (5, 1) and acts.min() >= -2 - 1e-5 and acts.max() <= 2 + 1e-5
        scaler = policies.policies["all"].algo.config.action_scaler  # maps the policy's [-1, 1] onto the box
        np.testing.assert_allclose([np.min(scaler.minimum), np.max(scaler.maximum)], [-2.0, 2.0])
        with pytest.raises(ValueError, match=r"\[-1, 1\]"):
            get_method("morel_p").make_config({"kappa": 10.0}, env, LENGTH)
    finally:
        unregister_env(env)
        unregister_reward(env)


def test_the_papers_specs_pass_the_checks():
    for name in ENV_NAMES:
        get_spec(name).check()


@pytest.mark.parametrize("covariates, low, high, match", [
    (("k",), (2.0,), (0.5,), r"covariate's low must be below its high, got k \[2, 0.5\]"),
    (("k", "m"), (0.5, 1.0), (2.0, 1.0), r"low must be below its high, got m \[1, 1\]"),
    (("obs_0",), (0.0,), (1.0,), r"covariates \['obs_0'\] clash with the dataset's columns"),
    (("k", "t"), (0.0, 0.0), (1.0, 1.0), r"covariates \['t'\] clash"),
    (("agent_id",), (0.0,), (1.0,), r"covariates \['agent_id'\] clash"),
    (("reward", "next_obs_7"), (0.0, 0.0), (1.0, 1.0), r"covariates \['reward', 'next_obs_7'\] clash"),
    (("k", "k"), (0.0, 0.0), (1.0, 1.0), r"covariates \['k'\] are named more than once"),
])
def test_a_covariate_with_an_empty_range_or_a_columns_name_is_refused(covariates, low, high, match):
    """Named by ``EnvSpec.for_data`` and by ``register_env`` (a clashing name would overwrite that
    column's dtype in the schema's expected columns)."""
    with pytest.raises(ValueError, match=match):
        EnvSpec.for_data("bad_cov", obs_dim=2, n_actions=3, covariates=covariates, low=low, high=high)
    good = EnvSpec.for_data("bad_cov", obs_dim=2, n_actions=3)
    with pytest.raises(ValueError, match=match):
        register_env(dataclasses.replace(good, covariates=covariates, low=low, high=high))
    assert "bad_cov" not in SPECS


def test_data_with_more_dimensions_than_the_registered_spec_is_refused(spring_env, tmp_path):
    frame = dataset_frame(np.ones(3))
    frame["obs_2"] = frame["next_obs_2"] = np.float32(0.0)
    write_dataset(frame, tmp_path / "wide.parquet", {"env": ENV})
    with pytest.raises(DatasetError, match=r"unexpected columns \['obs_2', 'next_obs_2'\]: env 'toy_spring' has "
                                           r"obs_dim D=2 .* and 3 discrete actions"):
        load_dataset(tmp_path / "wide.parquet", env=ENV)


def test_agent_ids_beyond_the_agents_table_are_named_when_its_size_is_passed(spring_env, tmp_path):
    """Training sizes the agent one-hot by the agents table: ``n_agents=len(agents)`` at load time
    names an id it lacks, instead of an index error deep in torch."""
    frame = dataset_frame(np.ones(3))
    frame["agent_id"] = frame["agent_id"].replace(2, 3)
    write_dataset(frame, tmp_path / "ids.parquet", {"env": ENV})
    with pytest.raises(DatasetError, match=r"column 'agent_id' holds 3: .* >= 3 \(the agents table's size\)"):
        load_dataset(tmp_path / "ids.parquet", env=ENV, n_agents=3)
