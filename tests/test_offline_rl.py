"""BCQ / CQL baselines: dataset conversion, d3rlpy pitfalls, policy sets, learning on expert-ish CartPole."""
import logging

import numpy as np
import pytest
import torch

import persim.envs as E
from conftest import agents_table
from persim.baselines.offline_rl import (
    OfflineRLConfig, epoch_plan, for_env, load, to_mdp_dataset, train, train_offline_policy,
)
from persim.data.rollout import PolicyActor, rollout
from persim.data.schema import OfflineDataset, load_dataset, to_frame, write_dataset
from persim.envs import get_spec
from persim.envs.agents import covariate_matrix, sample_agents
from persim.policies.train import evaluate_policy

torch.set_num_threads(1)


def _lean_controller(obs):
    """Push toward the pole's lean (angle + 0.5 * angular velocity): balances most carts."""
    return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)


def _cartpole_dataset(path, n_agents=8, epsilon=0.2, max_episode_steps=None, seed=0) -> OfflineDataset:
    """One controller + epsilon-uniform episode per agent (ids 0-4 = test agents), via the real schema."""
    spec = get_spec("cartpole")
    agents = sample_agents(spec, n_agents, seed=1)
    cov = covariate_matrix(spec, agents)
    envs = [E.make("cartpole", max_episode_steps=max_episode_steps, **spec.covariate_dict(c)) for c in cov]
    tr = rollout(envs, list(range(seed, seed + n_agents)),
                 PolicyActor([_lean_controller], epsilon=epsilon, rng=np.random.default_rng(seed)))
    write_dataset(to_frame(spec, agents["agent_id"].to_numpy(), cov, tr), path, {"env": "cartpole"})
    return load_dataset(path, env="cartpole")


@pytest.fixture(scope="module")
def expert_cartpole(tmp_path_factory):
    return _cartpole_dataset(tmp_path_factory.mktemp("data") / "cp.parquet")


def _small(algo, **kw):
    base = dict(n_steps=300, n_steps_per_epoch=100, batch_size=64, learning_rate=1e-3, hidden_units=[64, 64])
    return for_env("cartpole", algo, **{**base, **kw})


def _random_returns(cov):
    rng = np.random.default_rng(0)
    return evaluate_policy(lambda obs: rng.integers(2, size=len(obs)), "cartpole", cov, 10, seed=3)


@pytest.mark.parametrize("algo", ["cql", "bcq"])
def test_discrete_policy_beats_random_on_expert_cartpole(expert_cartpole, algo, caplog):
    with caplog.at_level(logging.INFO, logger="persim"):
        trained = train_offline_policy(expert_cartpole, _small(algo), seed=0)
    assert trained.grad_step == 300
    assert "cartpole %s updates 300/300" % algo in caplog.text and "ETA" in caplog.text  # per-epoch progress
    cov = {"force": 10.0, "length": 0.5}
    policy = evaluate_policy(lambda obs: trained.predict(obs.astype(np.float32)), "cartpole", cov, 10, seed=3)
    random = _random_returns(cov)
    assert random.mean() < 40
    assert policy.mean() > 100 and policy.mean() > 3 * random.mean()


def test_mdp_dataset_keeps_every_transition_of_timeouts(tmp_path):
    ds = _cartpole_dataset(tmp_path / "d.parquet", n_agents=12, epsilon=0.6, max_episode_steps=25, seed=4)
    lengths = ds.lengths().to_numpy()
    last = np.append(ds.agent_ids[1:] != ds.agent_ids[:-1], True)
    assert ds.truncated[last].any() and ds.terminated[last].any()  # both kinds of episode end
    mdp = to_mdp_dataset(ds)
    assert mdp.transition_count == ds.n_transitions
    assert [ep.transition_count for ep in mdp.episodes] == lengths.tolist()
    assert [ep.terminated for ep in mdp.episodes] == ds.terminated[last].tolist()
    # a time-out episode's final next observation is kept as the last observation row
    ep = mdp.episodes[int(np.flatnonzero(ds.truncated[last])[0])]
    row = np.flatnonzero(last & ds.truncated)[0]
    np.testing.assert_array_equal(ep.observations[-1], ds.next_obs[row])
    # subsets follow agent_ids; the agent's own rows only
    one = to_mdp_dataset(ds, agent_ids=[3])
    assert one.transition_count == lengths[3] and len(one.episodes) == 1
    assert one.dataset_info.action_size == 2
    with pytest.raises(KeyError, match=r"agents \[99\]"):
        to_mdp_dataset(ds, agent_ids=[99])


def test_batched_sampling_draws_the_same_batches_and_trains_the_same_weights(tmp_path):
    """The index-array batches equal d3rlpy's transition-by-transition ones for the same NumPy seed
    (terminal rows: zero next observation and action; time-outs: never sampled past their end), and a
    seeded CQL run ends with the same weights either way."""
    import d3rlpy

    from persim.baselines.batch_sampling import BatchedTransitions, use_batched_sampling
    from persim.baselines.offline_rl import build_algo

    ds = _cartpole_dataset(tmp_path / "d.parquet", n_agents=12, epsilon=0.6, max_episode_steps=25, seed=4)
    mdp = to_mdp_dataset(ds)
    table = BatchedTransitions.from_buffer(mdp)
    assert len(table) == mdp.transition_count == ds.n_transitions
    terminals = table.ordered("terminals")
    assert terminals.sum() == ds.terminated.sum()
    np.testing.assert_array_equal(table.ordered("next_observations")[terminals[:, 0] == 1], 0.0)
    for seed in (0, 1):
        np.random.seed(seed)
        want = mdp.sample_transition_batch(256)
        np.random.seed(seed)
        got = table.batch(256)
        for name in ("observations", "actions", "rewards", "next_observations", "next_actions", "terminals",
                     "intervals"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
            assert getattr(got, name).dtype == np.float32

    cfg = _small("cql", n_steps=30, n_steps_per_epoch=30)
    weights = []
    for data in (to_mdp_dataset(ds), use_batched_sampling(to_mdp_dataset(ds))):
        d3rlpy.seed(3)
        algo = build_algo("cartpole", cfg, data)
        algo.fit(data, n_steps=30, n_steps_per_epoch=30, show_progress=False,
                 logger_adapter=d3rlpy.logging.NoopAdapterFactory())
        weights.append([p.detach().clone() for p in algo.impl.modules.q_funcs.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


def test_epoch_longer_than_budget_still_trains_every_update(expert_cartpole):
    assert epoch_plan(7, 100) == [(1, 7)]
    assert epoch_plan(10, 4) == [(2, 4), (1, 2)]
    algo = train_offline_policy(expert_cartpole, _small("cql", n_steps=7, n_steps_per_epoch=100), seed=1)
    assert algo.grad_step == 7
    algo = train_offline_policy(expert_cartpole, _small("bcq", n_steps=10, n_steps_per_epoch=4), seed=1)
    assert algo.grad_step == 10
    # short budgets copy the target network at least min_target_updates times
    assert algo.config.target_update_interval == 1
    assert _small("cql", n_steps=550_000).effective_target_update_interval() == 8000


def test_training_writes_no_files(expert_cartpole, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train(expert_cartpole, agents_table(range(5)), _small("cql", n_steps=20, n_steps_per_epoch=5), 0, scope="p")
    assert list(tmp_path.iterdir()) == []


def test_policy_set_roundtrip_and_agent_scope(expert_cartpole, tmp_path):
    cfg = _small("bcq", n_steps=30, n_steps_per_epoch=30)
    pset = train(expert_cartpole, agents_table([0, 1, 2, 3, 4]), cfg, 0, scope="a")[0]
    assert pset.keys() == [0, 1, 2, 3, 4]
    info = pset.meta["policies"]
    assert [info[str(k)]["agent_ids"] for k in range(5)] == [[k] for k in range(5)]  # each on its own data
    assert len({info[str(k)]["seed"] for k in range(5)}) == 5  # a derived seed per agent
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    for k in range(5):
        np.testing.assert_array_equal(pset.actor(k)(obs), pset.policies[k].algo.predict(obs))
    assert not all(np.array_equal(pset.actor(0)(obs), pset.actor(k)(obs)) for k in range(1, 5))
    with pytest.raises(KeyError, match=r"agent 7.*holds \[0, 1, 2, 3, 4\]"):
        pset.actor(7)
    pset.save(tmp_path / "policy.pt")
    loaded = load(tmp_path / "policy.pt")
    assert loaded.meta == pset.meta
    for k in range(5):
        actions = loaded.actor(k)(obs)
        assert actions.dtype == np.int64 and actions.shape == (64,)
        np.testing.assert_array_equal(actions, pset.actor(k)(obs))
    with pytest.raises(ValueError, match=r"\[B, 4\]"):
        loaded.actor(0)(obs[0])
    # "-P": one policy for every agent
    pset_p = train(expert_cartpole, agents_table([0, 1, 2, 3, 4]), cfg, 0, scope="p")[0]
    assert pset_p.keys() == ["all"]
    np.testing.assert_array_equal(pset_p.actor(3)(obs), pset_p.actor(123)(obs))


def _cheetah_dataset(n_agents=3, steps=20) -> OfflineDataset:
    """HalfCheetah-shaped random transitions (obs 18, actions [-1, 1]^6), every episode timed out."""
    rng = np.random.default_rng(0)
    t_all = n_agents * steps
    obs = rng.normal(size=(n_agents, steps + 1, 18)).astype(np.float32)
    last = np.tile(np.arange(steps) == steps - 1, n_agents)
    return OfflineDataset(
        env="halfcheetah", path="<memory>", meta={}, agent_ids=np.repeat(np.arange(n_agents), steps),
        covariates=np.ones((t_all, 2)), t=np.tile(np.arange(steps), n_agents),
        obs=obs[:, :-1].reshape(-1, 18), actions=rng.uniform(-1, 1, size=(t_all, 6)).astype(np.float32),
        rewards=rng.normal(size=t_all), next_obs=obs[:, 1:].reshape(-1, 18),
        terminated=np.zeros(t_all, bool), truncated=last,
    )


@pytest.mark.parametrize("algo", ["bcq", "cql"])
def test_continuous_smoke_actions_in_bounds(algo, tmp_path):
    ds = _cheetah_dataset()
    assert to_mdp_dataset(ds).transition_count == ds.n_transitions
    cfg = for_env("halfcheetah", algo, n_steps=5, n_steps_per_epoch=5, batch_size=16, hidden_units=[32, 32],
                  imitator_hidden_units=[32, 32], n_action_samples=4)
    pset = train(ds, agents_table([0, 1]), cfg, 0, scope="a")[0]
    assert pset.policies[0].algo.grad_step == 5
    obs = 5 * np.random.default_rng(1).normal(size=(32, 18)).astype(np.float32)
    actions = pset.actor(1)(obs)
    assert actions.shape == (32, 6) and actions.dtype == np.float32
    assert np.all(np.abs(actions) <= 1.0 + 1e-6)
    pset.save(tmp_path / "p.pt")
    loaded = load(tmp_path / "p.pt", device="cpu")
    if algo == "cql":
        np.testing.assert_allclose(loaded.actor(1)(obs), actions, atol=1e-6)
    else:  # BCQ picks among VAE samples drawn from torch's global generator: the same draws, the same actions
        torch.manual_seed(3)
        before = pset.actor(0)(obs)
        torch.manual_seed(3)
        np.testing.assert_allclose(loaded.actor(0)(obs), before, atol=1e-6)
    assert np.all(np.abs(loaded.actor(0)(obs)) <= 1.0 + 1e-6)


def test_sampling_policy_evaluation_is_a_function_of_its_seed():
    """Continuous BCQ samples actions from its VAE: evaluating one saved set twice gives the same rows."""
    import pandas as pd

    from persim.evaluation.reward import policy_reward_rows

    ds = _cheetah_dataset()
    cfg = for_env("halfcheetah", "bcq", n_steps=5, n_steps_per_epoch=5, batch_size=16, hidden_units=[32, 32],
                  imitator_hidden_units=[32, 32], n_action_samples=4)
    pset = train(ds, agents_table([0, 1]), cfg, 0, scope="a")[0]
    agents = pd.DataFrame({"agent_id": [0, 1], "test_agent": [1, 2], "mass": [1.0, 0.5], "damping": [1.0, 1.5]})
    settings = {"env": "halfcheetah", "dataset": "x", "method_label": "BCQ-A", "seed": 3, "n_seeds": 2,
                "n_episodes": 1, "max_episode_steps": 15}
    rows = [pd.DataFrame(policy_reward_rows(pset, agents, get_spec("halfcheetah"), settings, logging.getLogger()))
            for _ in range(2)]
    torch.manual_seed(123)  # whatever the caller's global state
    rows.append(pd.DataFrame(policy_reward_rows(pset, agents, get_spec("halfcheetah"), settings, logging.getLogger())))
    pd.testing.assert_frame_equal(rows[0], rows[1])
    pd.testing.assert_frame_equal(rows[0], rows[2])
    other = policy_reward_rows(pset, agents, get_spec("halfcheetah"), {**settings, "seed": 4}, logging.getLogger())
    assert not np.allclose(pd.DataFrame(other)["reward"], rows[0]["reward"])  # the seed does matter


def test_config_defaults_and_errors():
    assert (for_env("cartpole", "cql").n_critics, for_env("cartpole", "cql").batch_size) == (3, 512)
    assert for_env("mountaincar", "cql").learning_rate == 1e-4
    hc = for_env("halfcheetah", "cql")
    assert (hc.lagrange_threshold, hc.actor_learning_rate, hc.critic_learning_rate) == (5.0, 3e-5, 3e-4)
    assert for_env("halfcheetah", "bcq").action_flexibility == 0.05
    assert OfflineRLConfig().n_steps == 550_000
    with pytest.raises(TypeError, match="unknown config keys.*n_step"):
        for_env("cartpole", "cql", n_step=5)
    with pytest.raises(ValueError, match="algo"):
        OfflineRLConfig(algo="iql")
    with pytest.raises(ValueError, match="cql.n_steps must be an integer >= 1"):
        for_env("cartpole", "cql", n_steps=0)
    with pytest.raises(ValueError, match="bcq.action_flexibility"):
        for_env("cartpole", "bcq", action_flexibility=1.5)
    with pytest.raises(ValueError, match="scope"):
        train(None, agents_table([0]), for_env("cartpole", "cql"), 0, scope="x")[0]
