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


def test_bf16_autocast_runs_the_cadm_planning_step_in_bfloat16():
    """``--bf16`` times the steps under :func:`autocast_bf16`: there the PE-TS CaDM step's products run in
    bfloat16 (next states close to float32's, yet not equal), and outside it the step is float32 again."""
    import torch

    from persim.benchmark import autocast_bf16, cadm_sim

    sim, _ = cadm_sim("cpu")  # the benchmark's PE-TS CaDM: 5 members, 20 particles, 4 x 200
    torch.manual_seed(0)
    states, actions, ctx = torch.randn(20, 40, 2), torch.randint(3, (40,)), torch.randn(40, 10)
    step = lambda: sim.step_particles(states, actions, ctx, generator=torch.Generator().manual_seed(1))  # noqa: E731
    full = step()
    with autocast_bf16("cpu"):
        half = step()
    assert half.dtype == torch.float32 and not torch.equal(half, full)
    torch.testing.assert_close(half, full, rtol=0.05, atol=0.05)
    assert torch.equal(step(), full)


@pytest.mark.parametrize("argv, said", [(["--device", "bogus"], "argument --device: must be cpu, cuda or cuda:N"),
                                        (["--device", "cuda:99"], "--device cuda:99 but torch sees"),
                                        (["--threads", "0"], "argument --threads: must be a positive integer, got 0"),
                                        (["--threads", "2", "-1"], "argument --threads"),
                                        (["--repeats", "0"], "argument --repeats")])
def test_bad_arguments_are_usage_errors_before_any_measuring(argv, said, capsys, monkeypatch):
    import persim.benchmark as benchmark

    monkeypatch.setattr(benchmark, "run", lambda *a, **k: pytest.fail("measured before the argument was checked"))
    with pytest.raises(SystemExit) as exit_:
        benchmark.main(argv)
    assert exit_.value.code == 2 and said in capsys.readouterr().err


def test_a_json_file_in_a_missing_folder_is_an_error_before_any_measuring(tmp_path, capsys, monkeypatch):
    import persim.benchmark as benchmark

    monkeypatch.setattr(benchmark, "run", lambda *a, **k: pytest.fail("measured before --json was checked"))
    target = tmp_path / "missing" / "bench.json"
    assert benchmark.main(["--json", str(target)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: --json {target}: folder {target.parent} does not exist (create it first)\n"
