"""MountainCar with a gravity covariate (Appendix E.1).

Engine force stays 0.001 and the reward is gymnasium's (-1 per step until position >= 0.5).
At ``gravity=0.0025`` it is gymnasium's ``MountainCar-v0`` step for step.
"""
from __future__ import annotations

from gymnasium.envs.classic_control.mountain_car import MountainCarEnv


class HeterogeneousMountainCar(MountainCarEnv):
    """gymnasium MountainCar whose gravity is a constructor argument.

    Observation ``[2]`` (position, velocity), float32; actions {0: left, 1: none, 2: right}.
    """

    def __init__(self, gravity: float = 0.0025, render_mode: str | None = None, goal_velocity: float = 0.0):
        super().__init__(render_mode=render_mode, goal_velocity=goal_velocity)
        if not gravity > 0:
            raise ValueError(f"MountainCar gravity must be > 0, got {gravity}")
        self.gravity = float(gravity)

    @property
    def covariates(self) -> dict[str, float]:
        return {"gravity": self.gravity}
