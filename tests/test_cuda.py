"""The CUDA path: every registered method trains on the GPU, loads on GPU and CPU alike, and its
simulator / planner / policy run there (skipped on CPU-only machines; ``make gpu-check`` runs them).

Marked ``cuda``: ``pytest -m cuda`` selects exactly these."""
import copy
import logging

import numpy as np
import pandas as pd
import pytest
import torch

import persim.envs as E
from conftest import REPO
from persim.config import load_config
from persim.data.rollout import PolicyActor, rollout
from persim.data.schema import OfflineDataset, load_dataset, to_frame, write_dataset
from persim.envs import get_spec
from persim.envs.agents import covariate_matrix, sample_agents
from persim.envs.torch_dynamics import batched_step
from persim.methods import POLICY, REGISTRY, SIMULATOR
from persim.planning.factory import make_planner

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (make gpu-check)")]
N_AGENTS = 8  # ids 0-4 are the test agents 1-5


def _lean(obs):
    return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory) -> tuple[OfflineDataset, pd.DataFrame]:
    """A small CartPole dataset (controller + 30% random actions, one episode per agent) in the real schema."""
    spec = get_spec("cartpole")
    agents = sample_agents(spec, N_AGENTS, seed=1)
    cov = covariate_matrix(spec, agents)
    envs = [E.make("cartpole", max_episode_steps=100, **spec.covariate_dict(c)) for c in cov]
    tr = rollout(envs, list(range(N_AGENTS)), PolicyActor([_lean], epsilon=0.3, rng=np.random.default_rng(0)))
    path = tmp_path_factory.mktemp("cuda") / "cp.parquet"
    write_dataset(to_frame(spec, agents["agent_id"].to_numpy(), cov, tr), path, {"env": "cartpole"})
    table = pd.DataFrame({"agent_id": range(N_AGENTS), "test_agent": [1, 2, 3, 4, 5, 0, 0, 0]})
    return load_dataset(path, env="cartpole"), table


def _train(spec, data, tmp_path, device="cuda"):
    """Train ``spec`` at the smoke profile's settings on ``device`` and save it; returns the path."""
    ds, agents = data
    config = load_config(REPO / "config/config.yaml", REPO / "config/smoke.yaml")
    cfg = spec.make_config(spec.settings(config, "cartpole"), "cartpole", 100)
    model, _ = spec.train(ds, agents, cfg, 0, device, logging.getLogger("test"))
    path = tmp_path / ("model.pt" if spec.kind == SIMULATOR else "policy.pt")
    model.save(path)
    return path


def _inputs(ds: OfflineDataset, device: str, n: int = 16):
    rows = np.arange(n)
    return (torch.as_tensor(ds.agent_ids[rows], device=device), torch.as_tensor(ds.obs[rows], device=device),
            torch.as_tensor(ds.actions[rows], device=device))


def _context(sim, ds: OfflineDataset, device: str, n: int = 16):
    """Each row's previous K transitions of the dataset as a CaDM context (None for K = 0)."""
    k = sim.context_length
    if not k:
        return None
    idx = np.arange(n)[:, None] + np.arange(k)[None, :]  # [n, K] any K consecutive rows will do
    t = lambda x: torch.as_tensor(x[idx], device=device)  # noqa: E731
    return sim.encode_context(t(ds.obs), t(ds.actions), t(ds.next_obs), torch.ones(n, k, dtype=torch.bool,
                                                                                     device=device))


@pytest.mark.parametrize("spec", [m for m in REGISTRY if m.kind == SIMULATOR], ids=lambda m: m.name)
def test_simulator_trains_on_cuda_and_agrees_with_its_cpu_copy(spec, cartpole, tmp_path):
    path = _train(spec, cartpole, tmp_path)
    ds = cartpole[0]
    gpu, cpu = spec.load(path, "cuda"), spec.load(path, "cpu")
    assert torch.device(gpu.device).type == "cuda" and torch.device(cpu.device).type == "cpu"
    a, s, u = _inputs(ds, "cuda")
    members = gpu.member_predictions(a, s, u, _context(gpu, ds, "cuda"))
    assert members.device.type == "cuda" and torch.isfinite(members).all()
    on_cpu = cpu.member_predictions(*_inputs(ds, "cpu"), _context(cpu, ds, "cpu"))
    torch.testing.assert_close(members.cpu(), on_cpu, atol=1e-4, rtol=1e-3)
    n_rows = 4
    step = gpu.planning_step(a, n_rows, _context(gpu, ds, "cuda"), torch.Generator(device="cuda").manual_seed(0))
    nxt = step(s.repeat_interleave(n_rows, 0).expand(gpu.planning_members, -1, -1), u.repeat_interleave(n_rows))
    assert nxt.device.type == "cuda" and nxt.shape == (gpu.planning_members, 16 * n_rows, 4)


@pytest.mark.parametrize("spec", [m for m in REGISTRY if m.kind == POLICY], ids=lambda m: m.name)
def test_policy_set_trains_on_cuda_and_acts_on_cpu(spec, cartpole, tmp_path):
    path = _train(spec, cartpole, tmp_path)
    pset = spec.load(path, "cpu")
    for agent_id in range(5):  # the test agents' ids
        actions = pset.actor(agent_id)(cartpole[0].obs[:7])
        assert actions.shape == (7,) and set(np.unique(actions)) <= {0, 1}


@pytest.mark.parametrize("env", ["cartpole", "halfcheetah"])
def test_planners_run_on_cuda_and_match_the_cpu(env):
    """Random shooting (CartPole's true dynamics) and CEM (a toy HalfCheetah-shaped step): candidates
    drawn from the same CPU generator, so the GPU and the CPU choose the same actions."""
    spec = get_spec(env)
    mpc = {"n_candidates": 64, "horizon": 10}

    def step(states, actions):
        if env == "cartpole":
            cov = torch.tensor([[10.0, 0.5]], device=states.device).expand(states.shape[1], -1)
            return batched_step("cartpole", states, actions.expand(states.shape[0], *actions.shape), cov)[0]
        return states + 0.05 * actions.sum(-1, keepdim=True)  # a toy drift with the env's shapes

    chosen = {}
    for device in ("cpu", "cuda"):
        planner = make_planner(env, mpc, 1, seed=0)
        planner.reset(3)
        states = torch.full((3, spec.obs_dim), 0.01, device=device)
        chosen[device] = planner.act(step, states)
        assert chosen[device].device.type == device and len(chosen[device]) == 3
    torch.testing.assert_close(chosen["cuda"].cpu(), chosen["cpu"], atol=1e-4, rtol=1e-3)


def test_mpc_reward_evaluation_runs_on_cuda_like_on_the_cpu():
    """The reward evaluation's planner on a simulator on the GPU: same episodes, same returns as on
    the CPU (candidates come from one CPU generator; the model's arithmetic agrees to float tolerance)."""
    from persim.evaluation.reward import evaluate_mpc, model_step_factory
    from persim.models.persim import PerSimConfig, PerSimNet, PerSimSimulator

    torch.manual_seed(0)
    cfg = PerSimConfig(rank=3, n_members=2, state_hidden=[16])
    net = PerSimNet(4, 2, 3, 0, cfg)
    returns = {}
    for device in ("cpu", "cuda"):
        sim = PerSimSimulator(copy.deepcopy(net).to(device), cfg, {"n_agents": 4})
        planner = make_planner("mountaincar", {"n_candidates": 50, "horizon": 10}, 2, seed=0)
        returns[device] = evaluate_mpc("mountaincar", {"gravity": 0.0025}, planner,
                                       model_step_factory(sim, 1, 50, seed=0), 2, seed=0, max_episode_steps=30,
                                       device=device)
    np.testing.assert_allclose(returns["cuda"], returns["cpu"])
