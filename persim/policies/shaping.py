"""Potential-based reward shaping for online policy training (Ng, Harada & Russell 1999).

During training only, the reward of a step s -> s' gains ``scale * (gamma * phi(s') - phi(s))``
(``phi(s') = 0`` when s' ends the episode). Shaping of this form leaves the optimal policies of the
discounted problem unchanged; it only tells the learner earlier which way is up. Evaluations, the
datasets and every reported return use the env's own reward.

Potentials, one per env that has one:

* ``mountaincar`` ``energy``: the car's mechanical energy per unit of gravity,
  ``phi(x, v) = sin(3x) / 3 + v^2 / (2 g)`` (MountainCar's velocity update has force
  ``-g cos(3x)``, whose potential is ``g sin(3x) / 3``); it rises by about 0.67 from the valley
  floor to the goal, so ``scale = 100`` adds at most ~67 over an episode of -1 steps. Without it,
  epsilon-greedy DQN rarely sees the goal of a high-gravity agent at all.
"""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

Potential = Callable[[np.ndarray, gym.Env], float]  # (obs [D], unwrapped env) -> phi


def _mountaincar_energy(obs: np.ndarray, env: gym.Env) -> float:
    x, v = float(obs[0]), float(obs[1])
    return float(np.sin(3.0 * x) / 3.0 + v * v / (2.0 * env.gravity))


POTENTIALS: dict[str, dict[str, Potential]] = {"mountaincar": {"energy": _mountaincar_energy}}


def potential(env_name: str, name: str) -> Potential:
    """The potential ``name`` of ``env_name`` (a ValueError naming the known ones otherwise)."""
    known = POTENTIALS.get(env_name, {})
    if name not in known:
        raise ValueError(f"policies.{env_name}.shaping: unknown potential {name!r}; "
                         f"known for {env_name}: {sorted(known) or 'none'}")
    return known[name]


class PotentialShaping(gym.Wrapper):
    """Adds ``scale * (gamma * phi(s') - phi(s))`` to every training reward (phi = 0 after termination)."""

    def __init__(self, env: gym.Env, phi: Potential, gamma: float, scale: float):
        super().__init__(env)
        self.phi, self.gamma, self.scale = phi, float(gamma), float(scale)
        self._last = 0.0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._last = self.phi(obs, self.env.unwrapped)
        return obs, info

    def step(self, action):
        obs, r, te, tr, info = self.env.step(action)
        nxt = 0.0 if te else self.phi(obs, self.env.unwrapped)
        shaped = float(r) + self.scale * (self.gamma * nxt - self._last)
        self._last = nxt
        return obs, shaped, te, tr, info
