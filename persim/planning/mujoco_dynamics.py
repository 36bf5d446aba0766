"""Batched true HalfCheetah dynamics for planning ("True env + MPC"), via MuJoCo's C rollouts.

HalfCheetah's observation holds everything its dynamics depend on: ``qpos[1:]`` (8), ``qvel`` (9)
and, appended by :mod:`persim.envs.halfcheetah`, the forward velocity. The root's x position is
left out, and the physics do not depend on it, so a state copy for any observation is
``qpos = [0, obs[:8]], qvel = obs[8:17]``. One env step = ``frame_skip`` (5) MuJoCo steps with the
action held; the next observation's forward velocity is ``Δx / dt`` as in gymnasium. All
candidates of all episodes roll out in one :func:`mujoco.rollout.rollout` call per horizon step.
"""
from __future__ import annotations

import numpy as np
import torch

N_QPOS, N_QVEL = 9, 9


class HalfCheetahDynamics:
    """``step(states [..., 18], actions [..., 6]) -> next states [..., 18]`` (torch, raw units)."""

    def __init__(self, covariates: dict[str, float]):
        import mujoco

        from persim.envs import make

        env = make("halfcheetah", **covariates).unwrapped
        self.model, self.frame_skip, self.dt = env.model, env.frame_skip, env.dt
        self.data = mujoco.MjData(self.model)
        self._spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self._size = mujoco.mj_stateSize(self.model, self._spec)
        low, high = env.action_space.low, env.action_space.high
        self.low, self.high = low.astype(np.float64), high.astype(np.float64)

    def _initial_state(self, obs: np.ndarray) -> np.ndarray:
        state = np.zeros((obs.shape[0], self._size))
        state[:, 2:1 + N_QPOS] = obs[:, :N_QPOS - 1]  # [time, qpos(x=0, ...), qvel]
        state[:, 1 + N_QPOS:1 + N_QPOS + N_QVEL] = obs[:, N_QPOS - 1:N_QPOS - 1 + N_QVEL]
        return state

    def step_numpy(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Next observations ``[B, 18]`` from observations ``[B, 18]`` and actions ``[B, 6]`` (float64)."""
        from mujoco import rollout

        ctrl = np.clip(actions, self.low, self.high)
        control = np.repeat(ctrl[:, None, :], self.frame_skip, axis=1)  # [B, frame_skip, 6]
        states, _ = rollout.rollout(self.model, self.data, self._initial_state(obs), control)
        last = states[:, -1]
        qpos, qvel = last[:, 1:1 + N_QPOS], last[:, 1 + N_QPOS:1 + N_QPOS + N_QVEL]
        return np.concatenate([qpos[:, 1:], qvel, (qpos[:, :1]) / self.dt], axis=1)

    def step(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Torch wrapper: any leading shape, flattened into one rollout batch."""
        lead = states.shape[:-1]
        obs = states.reshape(-1, states.shape[-1]).double().cpu().numpy()
        act = actions.expand(*lead, actions.shape[-1]).reshape(-1, actions.shape[-1]).double().cpu().numpy()
        nxt = self.step_numpy(obs, act)
        return torch.as_tensor(nxt, dtype=states.dtype, device=states.device).reshape(*lead, -1)
