"""Mini-batches of a d3rlpy replay buffer drawn as index arrays instead of one transition at a time.

d3rlpy 2.8's ``ReplayBuffer.sample_transition_batch`` draws ``batch_size`` transitions with one
Python call each (``np.random.randint``, the buffer lookup, the transition picker) and stacks them:
on CPU that is about a quarter of a small discrete CQL update and of an online DQN update (cProfile,
MountainCar shapes, batch 128). Every transition the picker can return is fixed once it is in the
buffer (a transition enters when its next observation and next action are written; an episode's
terminal transition enters after the episode is closed), so :class:`BatchedTransitions` picks each
one once, when it enters, into arrays ``[capacity, ...]`` that mirror the buffer's order (a ring for
d3rlpy's FIFO buffer), and serves a batch as one fancy index. The indices come from the same global
NumPy stream as d3rlpy's (``np.random.randint(T, size=B)`` draws exactly the B scalar draws d3rlpy
makes), so a seeded training run sees the same batches and ends with the same weights (tested for
offline CQL and online DQN / TD3).

* :func:`use_batched_sampling` — a fixed offline dataset (BCQ, CQL);
* :func:`use_batched_sampling_online` — a buffer that ``fit_online`` keeps appending to (DQN, TD3).
"""
from __future__ import annotations

import numpy as np

FIELDS = ("observations", "actions", "rewards", "next_observations", "next_actions", "terminals", "intervals")


class BatchedTransitions:
    """Picked transitions as float32 arrays in the buffer's index order (index 0 = the oldest).

    ``capacity``: the buffer's limit (FIFO: a full table overwrites its oldest row, as d3rlpy's deque
    drops it), or None for an unlimited buffer (the arrays grow). Fields (``T`` rows, as d3rlpy's
    mini-batch holds them): ``observations`` / ``next_observations`` ``[T, D]``, ``actions`` /
    ``next_actions`` ``[T, A]`` (discrete: ``[T, 1]`` action ids), ``rewards``, ``terminals`` and
    ``intervals`` ``[T, 1]``; :meth:`ordered` returns one of them.
    """

    def __init__(self, capacity: int | None = None):
        self.capacity = capacity
        self._rows: dict[str, np.ndarray] = {}
        self._head = 0   # row of index 0
        self._size = 0

    @classmethod
    def from_buffer(cls, buffer, capacity: int | None = None) -> "BatchedTransitions":
        """Every transition now in a d3rlpy ``ReplayBuffer``, picked by its transition picker."""
        table = cls(capacity)
        for i in range(buffer.transition_count):
            table.add(buffer.transition_picker(*buffer.buffer[i]))
        return table

    def __len__(self) -> int:
        return self._size

    def add(self, transition) -> None:
        """Append one d3rlpy ``Transition`` (the oldest row gives way when the table is full)."""
        if not isinstance(transition.observation, np.ndarray):
            raise TypeError("batched sampling: tuple observations are not supported")
        values = {"observations": transition.observation, "actions": transition.action,
                  "rewards": transition.reward, "next_observations": transition.next_observation,
                  "next_actions": transition.next_action, "terminals": transition.terminal,
                  "intervals": transition.interval}
        if not self._rows:
            n = self.capacity or 1024
            self._rows = {k: np.zeros((n, *np.shape(v)) if np.ndim(v) else (n, 1), np.float32)
                          for k, v in values.items()}
        if self._size == self.capacity:
            row = self._head
            self._head = (self._head + 1) % self.capacity
        else:
            if self.capacity is None and self._size == len(self._rows["rewards"]):
                self._rows = {k: np.concatenate([a, np.zeros_like(a)]) for k, a in self._rows.items()}
            row = (self._head + self._size) % len(self._rows["rewards"])
            self._size += 1
        for k, v in values.items():
            self._rows[k][row] = v

    def ordered(self, name: str) -> np.ndarray:
        """Field ``name`` ``[T, ...]`` in index order (a copy)."""
        return self._rows[name][self._slots(np.arange(self._size))]

    def _slots(self, idx: np.ndarray) -> np.ndarray:
        return (self._head + idx) % len(self._rows["rewards"]) if self._rows else idx

    def batch(self, batch_size: int):
        """A d3rlpy ``TransitionMiniBatch`` of ``batch_size`` uniform draws with replacement (its
        ``transitions`` list is left empty: d3rlpy's Q-learning updates do not read it)."""
        from d3rlpy.dataset import TransitionMiniBatch

        slots = self._slots(np.random.randint(self._size, size=batch_size))
        return TransitionMiniBatch(**{k: self._rows[k][slots] for k in FIELDS}, transitions=[])


def use_batched_sampling(dataset):
    """Make ``dataset`` (a d3rlpy ``ReplayBuffer``/``MDPDataset`` that is no longer appended to)
    serve ``sample_transition_batch`` from a :class:`BatchedTransitions`; returns ``dataset``."""
    dataset.sample_transition_batch = BatchedTransitions.from_buffer(dataset).batch
    return dataset


def use_batched_sampling_online(replay_buffer):
    """Make a d3rlpy ``ReplayBuffer`` that online training appends to (FIFO or unlimited) serve
    ``sample_transition_batch`` from a :class:`BatchedTransitions` that picks each transition as it
    enters the buffer; returns ``replay_buffer``. A batch drawn while the two disagree in size
    (something bypassed the buffer's ``append``) raises instead of sampling wrong rows."""
    inner = replay_buffer.buffer
    table = BatchedTransitions.from_buffer(replay_buffer, capacity=getattr(inner, "_limit", None))
    append = inner.append

    def mirrored_append(episode, index: int) -> None:
        append(episode, index)
        table.add(replay_buffer.transition_picker(episode, index))

    def batch(batch_size: int):
        if len(table) != inner.transition_count:
            raise RuntimeError(f"batched sampling: {len(table)} picked transitions for the buffer's "
                               f"{inner.transition_count}")
        return table.batch(batch_size)

    inner.append = mirrored_append
    replay_buffer.sample_transition_batch = batch
    return replay_buffer
