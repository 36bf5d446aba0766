"""HalfCheetah with mass and damping covariates (Appendix E.1, after Lee et al. 2020).

Every body's mass is multiplied by ``mass`` and every joint's damping by ``damping``. The
observation is gymnasium's 17-dim HalfCheetah-v5 observation followed by the torso's forward
velocity (the quantity the reward uses), so the reward can be computed from observations:
``reward = forward_reward_weight * obs'[17] - ctrl_cost_weight * |a|^2``. At reset, where no step
has been taken, the appended value is the root slide joint velocity ``qvel[0]``.
At ``mass=damping=1`` the first 17 dims equal ``HalfCheetah-v5`` step for step.
"""
from __future__ import annotations

import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv


class HeterogeneousHalfCheetah(HalfCheetahEnv):
    """gymnasium HalfCheetah-v5 with scaled body masses and joint dampings; observation ``[18]``."""

    def __init__(self, mass: float = 1.0, damping: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not (mass > 0 and damping > 0):
            raise ValueError(f"HalfCheetah mass and damping scales must be > 0, got {mass}, {damping}")
        self.mass_scale = float(mass)
        self.damping_scale = float(damping)
        self.model.body_mass[:] = self.model.body_mass * self.mass_scale
        self.model.dof_damping[:] = self.model.dof_damping * self.damping_scale
        base = self.observation_space
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(base.shape[0] + 1,), dtype=np.float64)

    @property
    def covariates(self) -> dict[str, float]:
        return {"mass": self.mass_scale, "damping": self.damping_scale}

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return np.append(obs, info["x_velocity"]), reward, terminated, truncated, info

    def reset_model(self):
        obs = super().reset_model()
        return np.append(obs, self.data.qvel[0])
