"""The benchmark's CPU-only measurements run and return what they claim to measure."""
import math

from persim.benchmark import replay_sampling


def test_replay_sampling_times_both_samplers_on_a_wrapped_fifo_buffer():
    # n + 1 transitions into an n-slot FIFO buffer: both samplers draw from a buffer that has wrapped
    times = replay_sampling(n=200, batch=16, repeats=3)
    assert set(times) == {"d3rlpy_ms", "batched_ms"}
    assert all(math.isfinite(t) and t > 0 for t in times.values())
