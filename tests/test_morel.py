"""MOReL baseline: dynamics ensemble, USAD + pessimistic MDP, batched PPO, policy sets."""
from typing import Sequence

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import agents_table

from persim.baselines.morel import (
    BatchedMDP, MorelConfig, MorelVectorEnv, build_pessimistic_mdp, load, train,
    train_dynamics,
)
from persim.baselines.ppo import PPOConfig, train_ppo
from persim.data import generate_dataset, load_dataset, write_dataset
from persim.data.schema import N_ACTIONS
from persim.envs import get_spec, make
from persim.envs.agents import sample_agents
from persim.envs.torch_dynamics import batched_step
from persim.policies import evaluate_policy

Tensor = torch.Tensor


class TrueDynamicsMDP(BatchedMDP):
    """The true batched MountainCar / CartPole dynamics of one agent behind the same interface (no halts).

    ``covariates``: ``[C]`` in the spec's column order. Useful to test the policy learner and as
    the "perfect model" limit of MOReL.
    """

    def __init__(self, env: str, covariates: Sequence[float], start_states: Tensor, n_envs: int,
                 max_episode_steps: int, seed: int, device: str = "cpu", autoreset: bool = True):
        n_actions = N_ACTIONS[env]
        if not n_actions:
            raise ValueError(f"no batched true dynamics for continuous env {env!r}")
        super().__init__(start_states, n_envs, max_episode_steps, n_actions, 0, seed, device, autoreset)
        self.env = env
        self.cov = torch.as_tensor(list(covariates), dtype=torch.float32, device=device).expand(n_envs, -1)

    def transition(self, states, actions):
        nxt, reward, term = batched_step(self.env, states, actions, self.cov)
        return nxt, reward.to(torch.float32), term, torch.zeros_like(term)


def env_start_states(env: str, covariates: dict[str, float], n: int, seed: int) -> Tensor:
    """``[n, D]`` start states from the real env's ``reset`` (seeds ``seed .. seed + n - 1``)."""
    e = make(env, **covariates)
    return torch.as_tensor(np.stack([e.reset(seed=seed + i)[0] for i in range(n)]), dtype=torch.float32)


CP_DEFAULT = {"force": 10.0, "length": 0.5}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One thread, set before the module-scoped fixtures train anything (the CPU is shared)."""
    torch.set_num_threads(1)


def _dataset(tmp_path, env, n_agents, behaviour, epsilon, seed, steps, policies=None, same_agent=False):
    """Write and load a small dataset; ``same_agent`` gives every agent the default covariates."""
    spec = get_spec(env)
    agents = sample_agents(spec, n_agents, seed=1)
    if same_agent:
        for name, value in zip(spec.covariates, spec.default):
            agents[name] = value
    frame = generate_dataset(env, agents, behaviour, epsilon, seed, policies or {}, max_episode_steps=steps)
    path = tmp_path / f"{env}_{behaviour}_{seed}.parquet"
    write_dataset(frame, path, {"env": env, "behaviour": behaviour})
    return load_dataset(path, env)


def _lean(obs):  # CartPole heuristic: push towards the pole's lean
    return ((obs[:, 2] + 0.5 * obs[:, 3]) > 0).astype(np.int64)


@pytest.fixture(scope="module")
def cp_model(tmp_path_factory):
    """Random-action CartPole data of 40 default agents, its held-out twin and a trained ensemble."""
    tmp = tmp_path_factory.mktemp("morel")
    train = _dataset(tmp, "cartpole", 40, "random", 1.0, 0, 200, same_agent=True)
    test = _dataset(tmp, "cartpole", 20, "random", 1.0, 1, 200, same_agent=True)
    cfg = MorelConfig.for_env("cartpole", dyn_epochs=1, dyn_min_steps=300, n_envs=16)
    return train, test, cfg, train_dynamics(train, cfg, seed=0)


def test_dynamics_ensemble_fits_cartpole(cp_model):
    train, test, cfg, dyn = cp_model
    s, a = torch.tensor(test.obs), torch.tensor(test.actions)
    target = dyn.delta_norm(torch.tensor(test.next_obs) - s)  # standardised Δs of held-out transitions
    model_mse = (dyn.delta_norm(dyn.predict(s, a) - s) - target).square().mean().item()
    const_mse = target.var(0).mean().item()  # best constant predictor
    assert model_mse < 0.01 * const_mse, (model_mse, const_mse)
    assert dyn.history[-1] < 0.1 * dyn.history[0]
    # members are independent networks: they disagree a little on held-out data
    members = dyn(s, a)
    assert members.shape == (cfg.n_members, len(s), 4) and (members[0] - members[1]).abs().mean() > 1e-4
    # threshold = max disagreement over the training transitions (quantile 1.0, factor 1.0)
    disc_train = dyn.disagreement(torch.tensor(train.obs), torch.tensor(train.actions))
    torch.testing.assert_close(dyn.threshold, disc_train.max())


def test_usad_flags_far_states_and_the_pmdp_halts_there(cp_model):
    train, _, cfg, dyn = cp_model
    n = cfg.n_envs
    s, a = torch.tensor(train.obs[:n]), torch.tensor(train.actions[:n])
    far = s * 10 + torch.tensor([2.0, 3.0, 0.0, 3.0])  # far outside the random-policy data
    d_in, d_far = dyn.disagreement(s, a), dyn.disagreement(far, a)
    assert d_far.median() > 5 * d_in.median()
    assert dyn.is_unknown(far, a).float().mean() > 0.9 and not dyn.is_unknown(s, a).any()

    mdp = build_pessimistic_mdp(dyn, train, cfg, seed=0)
    starts = torch.tensor(train.obs[train.t == 0])
    mdp.reset(far)
    obs, reward, term, trunc, halted = mdp.step(a)
    assert halted.float().mean() > 0.9
    assert (reward[halted] == -cfg.kappa).all() and term[halted].all() and not trunc.any()
    # halted episodes restarted from a dataset initial state; final_obs keeps the model's prediction
    assert (obs[halted][:, None, :] == starts[None]).all(-1).any(-1).all()
    assert not torch.equal(mdp.final_obs[halted], obs[halted])
    # on training data nothing halts and the known CartPole reward (+1) is paid
    mdp.reset(s)
    _, reward, _, _, halted = mdp.step(a)
    assert not halted.any() and (reward == 1.0).all()
    # the gymnasium wrapper speaks numpy with the same semantics
    venv = MorelVectorEnv(mdp)
    o, _ = venv.reset(seed=3)
    assert o.shape == (n, 4) and isinstance(venv.single_action_space, gym.spaces.Discrete)
    o, r, te, tr, info = venv.step(np.zeros(n, dtype=np.int64))
    assert r.shape == (n,) and info["final_obs"].shape == (n, 4) and info["halted"].dtype == bool


def test_true_dynamics_mdp_truncates_at_the_cap_and_autoresets():
    starts = env_start_states("cartpole", CP_DEFAULT, 8, seed=0)
    mdp = TrueDynamicsMDP("cartpole", [10.0, 0.5], starts, n_envs=8, max_episode_steps=4, seed=0)
    state = mdp.reset()
    for k in range(4):
        actions = torch.full((8,), k % 2, dtype=torch.int64)
        expected, _, _ = batched_step("cartpole", state, actions, torch.tensor([[10.0, 0.5]]).expand(8, -1))
        state, reward, term, trunc, halted = mdp.step(actions)
        torch.testing.assert_close(mdp.final_obs, expected)
    assert trunc.all() and not term.any() and not halted.any() and (reward == 1).all()
    assert (state[:, None, :] == starts[None]).all(-1).any(-1).all()  # restarted
    with pytest.raises(ValueError, match="actions must have shape"):
        mdp.step(torch.zeros(3, dtype=torch.int64))


def test_ppo_learns_true_cartpole():
    starts = env_start_states("cartpole", CP_DEFAULT, 64, seed=0)
    cfg = PPOConfig(n_envs=32, rollout_length=128, iterations=10, epochs=4, minibatch_size=512, learning_rate=1e-3)
    env = TrueDynamicsMDP("cartpole", [10.0, 0.5], starts, cfg.n_envs, 200, seed=0)
    ac, hist = train_ppo(env, cfg, seed=0, obs_std=np.array([1.0, 1.0, 0.1, 1.0]))
    assert hist["mean_return"][-1] > 2 * hist["mean_return"][0]
    policy = lambda obs: ac.greedy(torch.as_tensor(obs)).numpy()  # noqa: E731
    rng = np.random.default_rng(0)
    random = lambda obs: rng.integers(2, size=len(obs))  # noqa: E731
    learned = evaluate_policy(policy, "cartpole", CP_DEFAULT, 10, seed=5).mean()
    baseline = evaluate_policy(random, "cartpole", CP_DEFAULT, 10, seed=5).mean()
    assert learned > 2 * baseline and learned > 60, (learned, baseline)


def test_policy_sets_roundtrip_and_scopes(tmp_path):
    spec = get_spec("cartpole")
    policies = {f"logging{k}": _lean for k in range(len(spec.policy_agents))}
    ds = _dataset(tmp_path, "cartpole", 7, "pure_eps40", 0.4, 0, 60, policies)
    cfg = MorelConfig.for_env("cartpole", dyn_epochs=1, dyn_min_steps=20, n_envs=8, rollout_length=16,
                              iterations=2, ppo_epochs=1, minibatch_size=64)
    per_agent = train(ds, agents_table([0, 1]), cfg, 0, scope="a")[0]
    assert set(per_agent.policies) == {0, 1}
    assert per_agent.policies[0].meta["agent_ids"] == [0] and per_agent.policies[0].meta["n_transitions"] == 60
    w0, w1 = (per_agent.policies[k].ac.actor[0].weight for k in (0, 1))
    assert not torch.equal(w0, w1)  # own data, own seed
    with pytest.raises(KeyError, match="no policy for agent 5"):
        per_agent.actor(5)

    pooled = train(ds, agents_table([0, 1]), cfg, 0, scope="p")[0]
    again = train(ds, agents_table([0, 1]), cfg, 0, scope="p")[0]
    obs = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32) * [1, 1, 0.1, 1]
    np.testing.assert_array_equal(pooled.actor(3)(obs), again.actor(3)(obs))  # same seed, same policy
    for pset in (per_agent, pooled):
        pset.save(tmp_path / "policy.pt")
        loaded = load(tmp_path / "policy.pt")
        assert loaded.meta["scope"] == pset.meta["scope"] and set(loaded.policies) == set(pset.policies)
        for agent in (0, 1):
            out = loaded.actor(agent)(obs)
            assert out.dtype == np.int64 and out.shape == (50,)
            np.testing.assert_array_equal(out, pset.actor(agent)(obs))


def test_continuous_halfcheetah_pipeline_runs(tmp_path):
    ds = _dataset(tmp_path, "halfcheetah", 5, "random", 1.0, 0, 20)
    cfg = MorelConfig.for_env("halfcheetah", dyn_hidden=[32, 32], dyn_epochs=1, dyn_min_steps=10, n_envs=8,
                              rollout_length=8, iterations=1, ppo_epochs=1, minibatch_size=64, policy_hidden=[16])
    pset = train(ds, agents_table([0]), cfg, 0, scope="p")[0]
    act = pset.actor(0)(ds.obs[:10])
    assert act.shape == (10, 6) and act.dtype == np.float32 and np.abs(act).max() <= 1.0
    pset.save(tmp_path / "hc.pt")
    np.testing.assert_array_equal(load(tmp_path / "hc.pt").actor(0)(ds.obs[:10]), act)


def test_bad_config_and_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="morel.kappa"):
        MorelConfig(kappa=-1.0)
    with pytest.raises(ValueError, match="member_choice"):
        MorelConfig(member_choice="best")
    with pytest.raises(ValueError, match="n_members must be >= 2"):
        MorelConfig(n_members=1)
    with pytest.raises(TypeError, match="unknown config keys"):
        MorelConfig.for_env("cartpole", kapa=3.0)
    cfg = MorelConfig.for_env("halfcheetah")
    assert cfg.dyn_hidden == [1024, 1024] and cfg.kappa == 200 and cfg.max_episode_steps == 1000
    assert MorelConfig.for_env("mountaincar").kappa > 500  # halting must be worse than a full -1/step episode
    ds = _dataset(tmp_path, "cartpole", 5, "random", 1.0, 0, 20)
    with pytest.raises(ValueError, match="scope"):
        train(ds, agents_table([0]), cfg, 0, scope="x")[0]
    with pytest.raises(ValueError, match=r"agent ids \[9\]"):
        train_dynamics(ds, MorelConfig(), 0, agent_ids=[9])
