"""The benchmark's CPU-only measurements run and return what they claim to measure."""
import math
import shutil

import pytest

from persim.benchmark import replay_sampling


def test_replay_sampling_times_both_samplers_on_a_wrapped_fifo_buffer():
    # n + 1 transitions into an n-slot FIFO buffer: both samplers draw from a buffer that has wrapped
    times = replay_sampling(n=200, batch=16, repeats=3)
    assert set(times) == {"d3rlpy_ms", "batched_ms"}
    assert all(math.isfinite(t) and t > 0 for t in times.values())


@pytest.mark.skipif(not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
                    reason="torch.compile's CPU backend needs a C++ compiler")
def test_a_compiled_planning_step_plans_as_the_eager_one():
    """``mpc_call(compile_mode=...)`` (the benchmark's --compile) plans with the step through
    torch.compile: the compiled step's next states match the eager step's, and it plans the same
    action, on a small PerSim model."""
    import torch

    from persim.benchmark import mpc_call
    from persim.envs.specs import SPECS
    from persim.models import PerSimConfig, PerSimNet, PerSimSimulator, native_step

    spec = SPECS["mountaincar"]
    torch.manual_seed(0)
    cfg = PerSimConfig(n_members=2, rank=3, state_hidden=[16], action_hidden=[])
    sim = PerSimSimulator(PerSimNet(4, spec.obs_dim, spec.n_actions, spec.action_dim, cfg), cfg, {"env": "mountaincar"})
    torch.set_num_threads(1)
    with native_step.switched(False):  # what the benchmark compiles: the torch form
        step = sim.planning_step(torch.zeros(1, dtype=torch.int64), 7)
        states, actions = torch.randn(2, 7, spec.obs_dim), torch.randint(spec.n_actions, (7,))
        torch.testing.assert_close(torch.compile(step, dynamic=False)(states, actions), step(states, actions))
        eager = mpc_call("mountaincar", sim, "cpu")()
        compiled = mpc_call("mountaincar", sim, "cpu", compile_mode="default")()
    assert torch.equal(torch.as_tensor(eager), torch.as_tensor(compiled))
