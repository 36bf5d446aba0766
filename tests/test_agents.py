"""Agents table: test agents at fixed ids, seeded uniform draws, nearest logging policy."""
import numpy as np
import pandas as pd
import pytest

from persim.envs import ENV_NAMES, get_spec
from persim.envs.agents import covariate_matrix, nearest_policy_agent, sample_agents


@pytest.mark.parametrize("name", ENV_NAMES)
def test_agents_table(name):
    spec = get_spec(name)
    table = sample_agents(spec, 50, seed=3)
    assert list(table["agent_id"]) == list(range(50))
    assert list(table["test_agent"][:5]) == [1, 2, 3, 4, 5] and (table["test_agent"][5:] == 0).all()
    cov = covariate_matrix(spec, table)
    np.testing.assert_array_equal(cov[:5], np.asarray(spec.test_agents))
    assert (cov >= np.asarray(spec.low)).all() and (cov <= np.asarray(spec.high)).all()
    pd.testing.assert_frame_equal(table, sample_agents(spec, 50, seed=3))
    assert not table.equals(sample_agents(spec, 50, seed=4))


@pytest.mark.parametrize("name", ENV_NAMES)
def test_nearest_policy_agent_of_training_agents_is_itself(name):
    spec = get_spec(name)
    idx, dist = nearest_policy_agent(spec, np.asarray(spec.policy_agents))
    np.testing.assert_array_equal(idx, np.arange(len(spec.policy_agents)))
    np.testing.assert_allclose(dist, 0.0)


def test_nearest_policy_uses_normalised_distance():
    spec = get_spec("cartpole")
    # force differs by 2 (1/8 of its range), length by 0.1 (1/7 of its range): force is nearer
    idx, _ = nearest_policy_agent(spec, np.array([[12.0, 0.5]]))
    assert spec.policy_agents[idx[0]] in ((10.0, 0.5), (14.0, 0.5))
    # (13, 0.325): in raw units (14, 0.5) is nearer (1.02 vs 3.0), per range (10, 0.325) is (0.19 vs 0.26)
    idx, _ = nearest_policy_agent(spec, np.array([[13.0, 0.325]]))
    assert spec.policy_agents[idx[0]] == (10.0, 0.325)


def test_too_few_agents_is_an_error():
    with pytest.raises(ValueError, match="n_agents"):
        sample_agents(get_spec("mountaincar"), 3, seed=0)
