"""CartPole with push-force and pole-length covariates (Appendix E.1, after Lee et al. 2020).

``length`` is gymnasium's pole half-length. At ``force=10, length=0.5`` it is gymnasium's
``CartPole-v1`` step for step (episodes are capped at 200 steps by the registration).
"""
from __future__ import annotations

from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class HeterogeneousCartPole(CartPoleEnv):
    """gymnasium CartPole whose force magnitude and pole half-length are constructor arguments.

    Observation ``[4]`` (x, x_dot, theta, theta_dot), float32; actions {0: push left, 1: push right}.
    """

    def __init__(self, force: float = 10.0, length: float = 0.5, render_mode: str | None = None):
        super().__init__(render_mode=render_mode)
        if not (force > 0 and length > 0):
            raise ValueError(f"CartPole force and length must be > 0, got force={force}, length={length}")
        self.force_mag = float(force)
        self.length = float(length)
        self.polemass_length = self.masspole * self.length

    @property
    def covariates(self) -> dict[str, float]:
        return {"force": self.force_mag, "length": self.length}
