"""MPC as an actor of the lock-step rollout loop (:func:`persim.data.rollout.rollout`).

At every env step the planner chooses the first action of its best candidate sequence for all
running episodes in one batched call, on the step function the step factory builds for them (a
learned simulator's planning step, or the true dynamics). Episodes of a context simulator keep
their last K true transitions, which the factory turns into the simulator's context.
"""
from __future__ import annotations

from typing import Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

from persim.evaluation.history import TransitionHistory, Window
from persim.protocols import StepFn

StepFactory = Callable[..., StepFn]  # (running episode indices [E'], history window | None) -> step_fn


class MPCActor:
    """``planner`` (RandomShooting / CEM) acting through ``step_factory``; ``history_length = K > 0``
    keeps each episode's last K transitions for context simulators."""

    def __init__(self, planner, step_factory: StepFactory, history_length: int = 0, device: str = "cpu"):
        self.planner, self.step_factory = planner, step_factory
        self.k, self.device = history_length, device
        self.history: TransitionHistory | None = None

    def reset(self, envs: Sequence[gym.Env]) -> None:
        n = len(envs)
        self.n = n
        self.planner.reset(n)
        if self.k:
            space = envs[0].action_space
            discrete = not hasattr(space, "low")
            obs_dim = envs[0].observation_space.shape[0]
            self.history = TransitionHistory(n, self.k, obs_dim, () if discrete else tuple(space.shape), discrete)

    def act(self, idx: np.ndarray, obs: np.ndarray) -> np.ndarray:
        window: Window | None = self.history.window(idx) if self.history is not None else None
        running = np.zeros(self.n, dtype=bool)
        running[idx] = True
        states = torch.as_tensor(obs, device=self.device)
        return self.planner.act(self.step_factory(idx, window), states, active=torch.as_tensor(running)).cpu().numpy()

    def observe(self, idx: np.ndarray, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> None:
        if self.history is not None:
            self.history.push(idx, obs, actions, next_obs)
