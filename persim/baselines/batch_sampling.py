"""Mini-batches of a d3rlpy dataset drawn as index arrays instead of one transition at a time.

d3rlpy 2.8's ``ReplayBuffer.sample_transition_batch`` draws ``batch_size`` transitions with one
Python call each (``np.random.randint``, the buffer lookup, the transition picker) and stacks them:
on CPU that is about a quarter of a small discrete CQL update (cProfile, MountainCar shapes, batch
128). For a fixed offline dataset every transition the picker can return is known in advance, so
:func:`use_batched_sampling` picks each once, stores them as arrays ``[T, ...]``, and serves a batch
as one fancy index. The indices come from the same global NumPy stream as d3rlpy's
(``np.random.randint(T, size=B)`` draws exactly the B scalar draws d3rlpy makes), so a seeded
training run sees the same batches and ends with the same weights (tested).
"""
from __future__ import annotations

import numpy as np


class BatchedTransitions:
    """All transitions of a d3rlpy replay buffer as arrays, in the buffer's index order.

    Attributes (``T`` transitions): ``observations`` / ``next_observations`` ``[T, D]``, ``actions``
    ``[T, A]`` (discrete: ``[T, 1]`` action ids), ``next_actions`` like ``actions``, ``rewards``,
    ``terminals`` and ``intervals`` ``[T, 1]``; all float32, as d3rlpy's mini-batch holds them.
    """

    def __init__(self, buffer):
        n = buffer.transition_count
        picked = [buffer.transition_picker(*buffer.buffer[i]) for i in range(n)]
        if picked and not isinstance(picked[0].observation, np.ndarray):
            raise TypeError("use_batched_sampling: tuple observations are not supported")
        stack = lambda name: np.stack([getattr(t, name) for t in picked]).astype(np.float32)  # noqa: E731
        self.observations, self.actions = stack("observation"), stack("action")
        self.rewards, self.next_observations = stack("reward"), stack("next_observation")
        self.next_actions = stack("next_action")
        self.terminals = np.array([t.terminal for t in picked], np.float32).reshape(-1, 1)
        self.intervals = np.array([t.interval for t in picked], np.float32).reshape(-1, 1)

    def __len__(self) -> int:
        return len(self.observations)

    def batch(self, batch_size: int):
        """A d3rlpy ``TransitionMiniBatch`` of ``batch_size`` uniform draws with replacement (its
        ``transitions`` list is left empty: d3rlpy's Q-learning updates do not read it)."""
        from d3rlpy.dataset import TransitionMiniBatch

        idx = np.random.randint(len(self), size=batch_size)
        return TransitionMiniBatch(
            observations=self.observations[idx], actions=self.actions[idx], rewards=self.rewards[idx],
            next_observations=self.next_observations[idx], next_actions=self.next_actions[idx],
            terminals=self.terminals[idx], intervals=self.intervals[idx], transitions=[])


def use_batched_sampling(dataset):
    """Make ``dataset`` (a d3rlpy ``ReplayBuffer``/``MDPDataset`` that is no longer appended to)
    serve ``sample_transition_batch`` from :class:`BatchedTransitions`; returns ``dataset``."""
    table = BatchedTransitions(dataset)
    dataset.sample_transition_batch = table.batch
    return dataset
