"""Recent true transitions for simulators that condition on context (CaDM).

A simulator with ``context_length = K > 0`` is told who it simulates by the agent's last K true
transitions instead of an agent id. Both evaluations supply them: the prediction evaluation from the
warm-up steps, the reward evaluation from the episode so far (zero-padded and masked at the start).
Simulators without context (PerSim: ``context_length = 0``) ignore all of this.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Window:
    """K transitions per row: obs, next_obs ``[B, K, D]``, actions ``[B, K]``|``[B, K, A]``, mask ``[B, K]``.

    The most recent transition is index K-1; masked (False) entries are zero."""

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    mask: np.ndarray

    def context(self, sim) -> torch.Tensor:
        """The simulator's context ``[B, c]`` for these windows."""
        dev = sim.device
        acts = torch.as_tensor(self.actions, device=dev)
        return sim.encode_context(torch.as_tensor(self.obs, device=dev), acts,
                                  torch.as_tensor(self.next_obs, device=dev), torch.as_tensor(self.mask, device=dev))


def rollout_window(states: np.ndarray, actions: np.ndarray, end: int, k: int) -> Window:
    """Window of the K transitions before step ``end`` of rollouts ``states [R, L+1, D]``, ``actions [R, L(, A)]``."""
    r, _, d = states.shape
    start = max(0, end - k)
    n = end - start
    obs = np.zeros((r, k, d), dtype=np.float32)
    nxt = np.zeros_like(obs)
    acts = np.zeros((r, k, *actions.shape[2:]), dtype=actions.dtype)
    mask = np.zeros((r, k), dtype=bool)
    if n:
        obs[:, k - n:] = states[:, start:end]
        nxt[:, k - n:] = states[:, start + 1:end + 1]
        acts[:, k - n:] = actions[:, start:end]
        mask[:, k - n:] = True
    return Window(obs, acts, nxt, mask)


class TransitionHistory:
    """Ring of each running episode's last K true transitions (E episodes), shifted on every push."""

    def __init__(self, n_episodes: int, k: int, obs_dim: int, action_shape: tuple[int, ...], discrete: bool):
        self.k = k
        self.obs = np.zeros((n_episodes, k, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros_like(self.obs)
        self.actions = np.zeros((n_episodes, k, *action_shape), dtype=np.int64 if discrete else np.float32)
        self.mask = np.zeros((n_episodes, k), dtype=bool)

    def push(self, idx: np.ndarray, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> None:
        """Append one transition for episodes ``idx`` (obs/next_obs ``[len(idx), D]``)."""
        for arr, new in ((self.obs, obs), (self.actions, actions), (self.next_obs, next_obs),
                         (self.mask, np.ones(len(idx), dtype=bool))):
            arr[idx] = np.roll(arr[idx], -1, axis=1)
            arr[idx, -1] = new

    def window(self, idx: np.ndarray) -> Window:
        return Window(self.obs[idx], self.actions[idx], self.next_obs[idx], self.mask[idx])
