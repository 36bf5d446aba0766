"""The batched torch dynamics reproduce gymnasium step for step, for heterogeneous batches."""
import numpy as np
import pytest
import torch

import persim.envs as E
from persim.envs.torch_dynamics import batched_step


@pytest.mark.parametrize("name", ["mountaincar", "cartpole"])
@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_batched_dynamics_match_gymnasium(name, dtype, atol):
    spec = E.get_spec(name)
    rng = np.random.default_rng(0)
    covs = np.concatenate([np.asarray(spec.test_agents), rng.uniform(spec.low, spec.high, (11, spec.n_covariates))])
    envs = [E.make(name, **spec.covariate_dict(c)).unwrapped for c in covs]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    n_actions = envs[0].action_space.n
    cov_t = torch.tensor(covs, dtype=dtype)
    for step in range(120):
        states = torch.tensor(np.array([np.asarray(env.state, dtype=np.float64) for env in envs]), dtype=dtype)
        actions = rng.integers(n_actions, size=len(envs))
        nxt, reward, term = batched_step(name, states, torch.as_tensor(actions), cov_t)
        for i, env in enumerate(envs):
            _, r, te, _, _ = env.step(int(actions[i]))
            np.testing.assert_allclose(nxt[i].numpy(), np.asarray(env.state, dtype=np.float64), atol=atol, rtol=0)
            assert reward[i].item() == r
            assert bool(term[i]) == te
            if te:  # restart finished agents so the whole batch keeps being compared
                env.reset(seed=1000 + step * 100 + i)
    assert nxt.shape == (len(envs), 2 if name == "mountaincar" else 4)


def test_unknown_env_has_no_batched_dynamics():
    with pytest.raises(ValueError, match="halfcheetah"):
        batched_step("halfcheetah", torch.zeros(1, 18), torch.zeros(1), torch.ones(1, 2))
