"""Heterogeneous envs equal gymnasium's at default covariates and differ elsewhere."""
import gymnasium as gym
import numpy as np
import pytest

import persim.envs as E


def _run(env, actions, seed):
    obs, _ = env.reset(seed=seed)
    out, rewards = [obs], []
    for a in actions:
        obs, r, te, tr, _ = env.step(a)
        out.append(obs)
        rewards.append(r)
        if te or tr:
            break
    return np.array(out), np.array(rewards)


def _actions(spec, n, seed):
    rng = np.random.default_rng(seed)
    if spec.discrete:
        k = 3 if spec.name == "mountaincar" else 2
        return [int(a) for a in rng.integers(k, size=n)]
    return list(rng.uniform(-1, 1, size=(n, 6)))


@pytest.mark.parametrize("name", E.ENV_NAMES)
def test_default_covariates_follow_gymnasium_exactly(name):
    spec = E.get_spec(name)
    for seed in (0, 7):
        acts = _actions(spec, 150, seed)
        ours, r_ours = _run(E.make(name), acts, seed)
        ref, r_ref = _run(gym.make(spec.reference_id), acts, seed)
        assert ours.shape[0] == ref.shape[0]
        np.testing.assert_array_equal(ours[:, : ref.shape[1]], ref)
        np.testing.assert_array_equal(r_ours, r_ref)


@pytest.mark.parametrize("name", E.ENV_NAMES)
def test_covariates_change_dynamics(name):
    spec = E.get_spec(name)
    acts = _actions(spec, 40, 1)
    base, _ = _run(E.make(name), acts, 3)
    other, _ = _run(E.make(name, **spec.covariate_dict(spec.test_agents[0])), acts, 3)
    n = min(len(base), len(other))
    np.testing.assert_array_equal(base[0], other[0])  # same start state for the same seed
    assert not np.allclose(base[1:n], other[1:n])


def test_registered_ids_and_caps():
    for name in E.ENV_NAMES:
        spec = E.get_spec(name)
        assert spec.gym_id in gym.registry
        env = gym.make(spec.gym_id)
        assert env.spec.max_episode_steps == spec.max_episode_steps
    assert E.make("mountaincar").unwrapped.gravity == 0.0025
    mc = E.make("mountaincar", gravity=0.002).unwrapped
    assert (mc.gravity, mc.force) == (0.002, 0.001)  # the covariate set, the other constant untouched
    cp = E.make("cartpole", force=2.0, length=0.85).unwrapped
    assert (cp.force_mag, cp.length) == (2.0, 0.85)
    assert cp.polemass_length == pytest.approx(0.1 * 0.85)


def test_bad_covariates_are_rejected():
    with pytest.raises(TypeError, match="unknown covariates"):
        E.make("cartpole", gravity=1.0)
    with pytest.raises(ValueError, match="gravity"):
        E.make("mountaincar", gravity=-1.0)
    with pytest.raises(KeyError, match="unknown env"):
        E.get_spec("pendulum")


def test_halfcheetah_covariates_scale_model_and_velocity_gives_reward():
    default = E.make("halfcheetah").unwrapped
    heavy = E.make("halfcheetah", mass=1.7, damping=0.3).unwrapped
    np.testing.assert_allclose(heavy.model.body_mass, 1.7 * default.model.body_mass)
    np.testing.assert_allclose(heavy.model.dof_damping, 0.3 * default.model.dof_damping)
    env = E.make("halfcheetah", mass=0.3, damping=1.7)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (18,)
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.uniform(-1, 1, 6)
        obs, r, *_ = env.step(a)
        assert r == pytest.approx(obs[17] - 0.1 * np.sum(a**2), abs=1e-9)
