"""Policy training plumbing and lock-step rollouts."""
import numpy as np
import pytest

import persim.envs as E
from persim.data.rollout import PolicyActor, rollout
from persim.policies import PolicyConfig, evaluate_policy, load_policy, train_policy


def test_lockstep_rollout_equals_sequential_episodes():
    covs = [0.0001, 0.001, 0.0035]
    policy = lambda obs: (obs[:, 1] >= 0).astype(np.int64) * 2  # noqa: E731  push along velocity
    envs = [E.make("mountaincar", gravity=g) for g in covs]
    tr = rollout(envs, seeds=[1, 2, 3], actor=PolicyActor([policy]))
    for i, g in enumerate(covs):
        env = E.make("mountaincar", gravity=g)
        obs, _ = env.reset(seed=i + 1)
        ret, done = 0.0, False
        while not done:
            obs, r, te, trunc, _ = env.step(int(policy(obs[None])[0]))
            ret += r
            done = te or trunc
        assert tr.episode_returns(3)[i] == ret
    assert tr.episode_returns(3)[0] > -500  # this energy-pumping policy solves low gravity


@pytest.mark.filterwarnings("ignore:.*already returned terminated:UserWarning")  # stepping on is the point
def test_fixed_length_rollout_steps_past_termination():
    envs = [E.make("cartpole").unwrapped for _ in range(2)]
    tr = rollout(envs, [0, 1], PolicyActor([lambda obs: np.zeros(len(obs), dtype=np.int64)]), n_steps=40)
    assert tr.episode_lengths(2).tolist() == [40, 40]
    assert tr.terminated.reshape(2, 40).any(1).all()  # always pushing left: the pole falls within 40 steps


def test_rollout_needs_a_policy_unless_fully_random():
    with pytest.raises(ValueError, match="policy"):
        PolicyActor([], epsilon=0.5)


def test_train_save_load_and_best_snapshot(tmp_path, caplog):
    cfg = PolicyConfig(algo="dqn", n_steps=300, n_steps_per_epoch=1000, update_start_step=50,
                       hidden_units=[16], buffer_size=1000, eval_episodes=2, eval_interval=100)
    with caplog.at_level("INFO", logger="persim"):
        algo = train_policy("cartpole", {"force": 10.0, "length": 0.5}, cfg, seed=0, max_episode_steps=50)
    assert "keeping the snapshot of step" in caplog.text
    path = tmp_path / "p.d3"
    algo.save(str(path))
    act = load_policy(path)
    obs = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    np.testing.assert_array_equal(act(obs), algo.predict(obs))
    returns = evaluate_policy(act, "cartpole", {"force": 10.0, "length": 0.5}, 3, seed=0, max_episode_steps=50)
    assert returns.shape == (3,) and (returns >= 1).all() and (returns <= 50).all()
    # a function of the policy and the seed: the trained algorithm scores exactly what its reload does
    same = evaluate_policy(algo.predict, "cartpole", {"force": 10.0, "length": 0.5}, 3, seed=0, max_episode_steps=50)
    np.testing.assert_array_equal(same, returns)


def test_algo_must_fit_action_space():
    with pytest.raises(ValueError, match="does not fit"):
        train_policy("halfcheetah", {"mass": 1.0, "damping": 1.0}, PolicyConfig(algo="dqn", n_steps=10), seed=0)
    with pytest.raises(ValueError, match="algo"):
        PolicyConfig(algo="ppo", n_steps=10)


def test_training_stops_at_the_target_and_keeps_that_snapshot(caplog):
    # every CartPole policy survives a few steps: a target of 2 is reached at the first evaluation
    cfg = PolicyConfig(algo="dqn", n_steps=3000, n_steps_per_epoch=1000, update_start_step=50, hidden_units=[16],
                       buffer_size=1000, eval_episodes=2, eval_interval=100, stop_return=2.0)
    with caplog.at_level("INFO", logger="persim"):
        train_policy("cartpole", {"force": 10.0, "length": 0.5}, cfg, seed=0, max_episode_steps=50)
    assert "target return 2.00 reached at step 100: training stopped" in caplog.text
    assert "step 200 greedy eval" not in caplog.text and "keeping the snapshot of step 100" in caplog.text
    # a target never reached trains the whole budget
    cfg = PolicyConfig(**{**vars(cfg), "n_steps": 300, "stop_return": 1e9})
    caplog.clear()
    with caplog.at_level("INFO", logger="persim"):
        train_policy("cartpole", {"force": 10.0, "length": 0.5}, cfg, seed=0, max_episode_steps=50)
    assert "step 300 greedy eval" in caplog.text and "training stopped" not in caplog.text
    with pytest.raises(ValueError, match="eval_interval"):
        PolicyConfig(algo="dqn", n_steps=10, stop_return=1.0)


def test_training_evaluations_score_the_terminal_step_as_reports_do(monkeypatch):
    """The greedy evaluations that pick the snapshot use the run's terminal-step convention
    (evaluation.terminal_step_reward), like policy_returns and the reward tables."""
    import persim.policies.train as train_mod
    seen = []

    def spy(*args, **kwargs):
        seen.append(args[6] if len(args) > 6 else kwargs.get("terminal_reward"))
        return np.zeros(2)
    monkeypatch.setattr(train_mod, "evaluate_policy", spy)
    cfg = PolicyConfig(algo="dqn", n_steps=200, n_steps_per_epoch=1000, update_start_step=50, hidden_units=[16],
                       buffer_size=1000, eval_episodes=2, eval_interval=100)
    train_policy("cartpole", {"force": 10.0, "length": 0.5}, cfg, seed=0, max_episode_steps=50, terminal_reward=0.0)
    assert seen and all(t == 0.0 for t in seen)


def test_potential_shaping_telescopes_and_leaves_evaluation_alone():
    from persim.policies.shaping import PotentialShaping, potential
    phi = potential("mountaincar", "energy")
    raw, shaped = E.make("mountaincar", gravity=0.003), PotentialShaping(E.make("mountaincar", gravity=0.003), phi, 1.0, 100.0)
    o_raw, _ = raw.reset(seed=3)
    o, _ = shaped.reset(seed=3)
    start, total_raw, total = phi(o, shaped.unwrapped), 0.0, 0.0
    for a in [2, 2, 0, 0, 0, 2, 2, 2, 2, 1] * 3:
        o_raw, r_raw, *_ = raw.step(a)
        o, r, *_ = shaped.step(a)
        total_raw, total = total_raw + r_raw, total + r
    np.testing.assert_array_equal(o, o_raw)  # the dynamics are the env's
    # with gamma = 1 the added rewards sum to scale x (phi(last) - phi(first))
    assert total - total_raw == pytest.approx(100.0 * (phi(o, shaped.unwrapped) - start), abs=1e-9)
    assert total_raw == -30.0
    with pytest.raises(ValueError, match="known for cartpole: none"):
        potential("cartpole", "energy")


def test_online_batched_sampling_mirrors_a_wrapping_fifo_buffer_and_trains_the_same_weights(monkeypatch):
    """The ring table equals d3rlpy's FIFO buffer draw for draw (terminal and time-out episodes, after
    the buffer wrapped), and seeded DQN / TD3 runs end with the same weights with it or without it."""
    import d3rlpy
    import torch

    import persim.policies.train as T
    from persim.baselines.batch_sampling import use_batched_sampling_online

    env = E.make("cartpole", max_episode_steps=30, force=10.0, length=0.5)
    plain = d3rlpy.dataset.create_fifo_replay_buffer(limit=97, env=env)
    fast = use_batched_sampling_online(d3rlpy.dataset.create_fifo_replay_buffer(limit=97, env=env))
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    for step in range(400):
        action = int(rng.integers(2))
        nxt, reward, term, trunc, _ = env.step(action)
        for buf in (plain, fast):
            buf.append(obs, action, float(reward))
            if term or trunc:
                buf.clip_episode(term)
        obs = env.reset()[0] if term or trunc else nxt
        if step % 37 == 36 and plain.transition_count > 1:
            assert fast.buffer.transition_count == plain.transition_count
            np.random.seed(step)
            want = plain.sample_transition_batch(64)
            np.random.seed(step)
            got = fast.sample_transition_batch(64)
            for name in ("observations", "actions", "rewards", "next_observations", "next_actions", "terminals"):
                np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=f"{name} at {step}")
    assert plain.transition_count == 97  # wrapped

    def weights(batched: bool, env_name: str, cfg: PolicyConfig, covariates: dict) -> list:
        monkeypatch.setattr(T, "use_batched_sampling_online", use_batched_sampling_online if batched else (lambda b: b))
        algo = train_policy(env_name, covariates, cfg, seed=5, max_episode_steps=40)
        nets = [m for m in vars(algo.impl.modules).values() if isinstance(m, torch.nn.Module)]  # q_funcs, policy, ...
        return [p.detach().clone() for net in nets for p in net.parameters()]

    for env_name, cfg, cov in (
            ("cartpole", PolicyConfig(algo="dqn", n_steps=400, n_steps_per_epoch=400, update_start_step=50,
                                      hidden_units=[16], buffer_size=150, batch_size=32), {"force": 10.0, "length": 0.5}),
            ("halfcheetah", PolicyConfig(algo="td3", n_steps=120, n_steps_per_epoch=120, update_start_step=40,
                                         random_steps=40, hidden_units=[16], buffer_size=100, batch_size=16),
             {"mass": 1.0, "damping": 1.0})):
        a, b = weights(True, env_name, cfg, cov), weights(False, env_name, cfg, cov)
        assert a and len(a) == len(b)
        assert all(torch.equal(x, y) for x, y in zip(a, b)), env_name
