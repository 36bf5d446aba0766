"""The fused C kernel of PerSim's folded discrete step computes what the torch form computes."""
import multiprocessing
import os
import shlex
import shutil

import pytest
import torch

from persim.models import PerSimConfig, PerSimNet, PerSimSimulator, native_step
from persim.models.folded import folded_step
from persim.planning import MPCConfig, RandomShooting, reward_fn

pytestmark = pytest.mark.skipif(shutil.which(shlex.split(os.environ.get("CC") or "cc")[0]) is None,
                                reason="no C compiler ($CC or cc): planning uses the torch form")


def _net(n_actions: int, obs_dim: int, rank: int = 3, hidden: int = 32, seed: int = 0) -> PerSimNet:
    torch.manual_seed(seed)
    net = PerSimNet(n_agents=9, obs_dim=obs_dim, n_actions=n_actions, action_dim=0,
                    cfg=PerSimConfig(rank=rank, n_members=3, state_hidden=[hidden]))
    for norm in (net.obs_norm, net.delta_norm):  # non-trivial statistics
        norm.mean.normal_()
        norm.std.uniform_(0.5, 2.0)
    return net


def _steps(net: PerSimNet, agents: torch.Tensor, n_rows: int):
    with native_step.switched(True):
        fused = folded_step(net, agents, n_rows)
    with native_step.switched(False):
        reference = folded_step(net, agents, n_rows)
    return fused, reference


def test_the_kernel_builds_where_a_compiler_is():
    assert native_step.usable("cpu", 2, 3), native_step.describe()
    assert native_step.describe().startswith("fused C kernel")
    assert not native_step.usable("cpu", 2, 3, torch.float64)  # float32 only: double models use torch
    assert not native_step.usable("cpu", 17, 2)  # beyond the kernel's sizes: torch


# MountainCar's and CartPole's specialised shapes, and the generic path (D = 3, k = 4);
# 13 candidates per episode: one full block of 8 and a partial one; 1 thread and more threads than blocks
@pytest.mark.parametrize("n_actions,obs_dim", [(3, 2), (2, 4), (4, 3)])
@pytest.mark.parametrize("threads", [1, 3])
def test_fused_step_equals_the_torch_form_and_the_model(n_actions, obs_dim, threads):
    net = _net(n_actions, obs_dim)
    agents, n_rows = torch.tensor([4, 0, 8, 4]), 13
    states = 3 * torch.randn(3, len(agents) * n_rows, obs_dim)
    actions = torch.randint(n_actions, (len(agents) * n_rows,))
    fused, reference = _steps(net, agents, n_rows)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        out = fused(states, actions)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(out, reference(states, actions), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, net.step(agents.repeat_interleave(n_rows), states, actions), rtol=1e-5, atol=1e-5)
    assert not torch.equal(out, states)


def test_the_pool_serves_calls_of_changing_thread_counts():
    """Workers spin between calls and a pool grown by a call with more threads keeps serving calls with
    fewer: 200 back-to-back calls at 4, 2, 1 and 3 threads (one horizon step each, as planning makes
    them), every one equal to the torch form, action errors counted over all threads' rows."""
    net = _net(3, 2)
    agents, n_rows = torch.tensor([1, 5]), 64  # 16 blocks of 8 candidates: every thread gets rows
    fused, reference = _steps(net, agents, n_rows)
    gen = torch.Generator().manual_seed(0)
    before = torch.get_num_threads()
    try:
        for i in range(200):
            torch.set_num_threads((4, 2, 1, 3)[i % 4])
            states = torch.randn(3, 2 * n_rows, 2, generator=gen)
            actions = torch.randint(3, (2 * n_rows,), generator=gen)
            torch.testing.assert_close(fused(states, actions), reference(states, actions), rtol=1e-5, atol=1e-5)
        torch.set_num_threads(4)
        bad = torch.randint(3, (2 * n_rows,), generator=gen)
        bad[[3, 40, 70, 127]] = 7  # a row of each of the four threads (32 rows each)
        with pytest.raises(ValueError, match=r"4 action\(s\) outside"):
            fused(states, bad)
    finally:
        torch.set_num_threads(before)


def test_fused_step_rejects_bad_actions_and_shapes():
    net = _net(3, 2)
    fused, _ = _steps(net, torch.tensor([1]), 8)
    states = torch.randn(3, 8, 2)
    with pytest.raises(ValueError, match=r"1 action\(s\) outside \[0, 3\)"):
        fused(states, torch.tensor([0, 1, 2, 3, 0, 1, 2, 0]))
    with pytest.raises(ValueError, match="states must be float32 CPU"):
        fused(states.double(), torch.zeros(8, dtype=torch.int64))
    with pytest.raises(ValueError, match="7 actions for 8 rows"):
        fused(states, torch.zeros(7, dtype=torch.int64))


def test_switched_off_the_planner_runs_the_torch_form(monkeypatch):
    monkeypatch.setenv(native_step.SWITCH, "0")
    assert not native_step.usable("cpu", 2, 3)
    assert native_step.describe() == "torch form (PERSIM_NATIVE=0)"
    with native_step.switched(True):
        assert native_step.usable("cpu", 2, 3)
    assert os.environ[native_step.SWITCH] == "0"  # restored


def test_planner_chooses_the_same_actions_on_both_forms():
    """MountainCar random shooting over a PerSim model: the same first actions for 6 episodes."""
    net = _net(3, 2, hidden=64)
    sim = PerSimSimulator(net, PerSimConfig(rank=3, n_members=3, state_hidden=[64]), {"env": "mountaincar"})
    agents = torch.arange(6)
    states = torch.stack([torch.linspace(-1.0, 0.4, 6), torch.linspace(-0.05, 0.05, 6)], 1)
    chosen = []
    for on in (True, False):
        cfg = MPCConfig(n_candidates=64, horizon=12)
        planner = RandomShooting(cfg, 3, reward_fn("mountaincar"), 3, generator=torch.Generator().manual_seed(3))
        planner.reset(len(agents))
        with native_step.switched(on):
            step = sim.planning_step(agents, cfg.n_candidates)
        chosen.append(torch.as_tensor(planner.act(step, states)))
    assert torch.equal(chosen[0], chosen[1])


def _child_step(queue) -> None:
    # torch's own ops stay on 1 thread here: GNU OpenMP's pool does not survive fork either, and
    # this test is about the kernel's pool (the kernel reads its thread count from torch)
    torch.set_num_threads(1)
    net = _net(3, 2)
    fused, reference = _steps(net, torch.tensor([2]), 40)
    states, actions = torch.randn(3, 40, 2), torch.randint(3, (40,))
    expected = reference(states, actions)
    torch.set_num_threads(2)
    out = fused(states, actions)
    torch.set_num_threads(1)
    queue.put(bool(torch.allclose(out, expected, atol=1e-5)))


def test_the_worker_pool_survives_fork():
    """The kernel's worker threads do not exist in a forked child (the job server forks jobs): a child
    of a process whose pool is running still gets its step, from a pool of its own."""
    net = _net(3, 2)
    fused, _ = _steps(net, torch.tensor([0]), 40)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fused(torch.randn(3, 40, 2), torch.zeros(40, dtype=torch.int64))  # the parent's pool starts
    finally:
        torch.set_num_threads(before)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_step, args=(queue,))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child's step hung")
    assert child.exitcode == 0 and queue.get(timeout=5) is True


def test_build_caches_one_library_per_source(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSIM_NATIVE_CACHE", str(tmp_path))
    path, described = native_step.build()
    assert path.parent == tmp_path and path.suffix == ".so" and "-O3" in described
    stamp = path.stat().st_mtime_ns
    assert native_step.build()[0] == path and path.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_the_simulator_names_its_planning_form():
    """What eval_reward logs and records (provenance key ``persim_planning_step``)."""
    sim = PerSimSimulator(_net(3, 2), PerSimConfig(rank=3, n_members=3, state_hidden=[32]), {})
    with native_step.switched(True):
        assert sim.planning_form().startswith("fused C kernel")
    with native_step.switched(False):
        assert sim.planning_form() == "folded torch form (cpu, float32; torch form (PERSIM_NATIVE=0))"
    sim.net.double()
    assert sim.planning_form().startswith("folded torch form (cpu, float64; fused C kernel")
    cfg = PerSimConfig(rank=3, n_members=3, state_hidden=[16, 16])  # two hidden layers: no folded form
    deep = PerSimNet(n_agents=9, obs_dim=2, n_actions=3, action_dim=0, cfg=cfg)
    assert PerSimSimulator(deep, cfg, {}).planning_form() == "PerSimNet.step (torch)"
