"""Batched torch versions of the true MountainCar and CartPole dynamics.

Each function advances a whole batch of (possibly heterogeneous) agents one step, with the same
arithmetic as gymnasium's ``step`` (which keeps its state in float64). Use float64 tensors to
match gymnasium to ~1e-12; float32 matches to float32 round-off. Shapes:

- ``states``: ``[B, D]`` (D = 2 for MountainCar, 4 for CartPole)
- ``actions``: ``[B]`` int64 in {0, 1, 2} / {0, 1}
- covariates: ``[B]`` tensors or Python floats (broadcast)

Each returns ``(next_states [B, D], reward [B], terminated [B] bool)``. Rewards follow gymnasium:
MountainCar -1 every step; CartPole +1 every step (including the terminating one).
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor

# MountainCar constants (gymnasium MountainCarEnv)
MC_FORCE = 0.001
MC_MAX_SPEED = 0.07
MC_MIN_POSITION = -1.2
MC_MAX_POSITION = 0.6
MC_GOAL_POSITION = 0.5

# CartPole constants (gymnasium CartPoleEnv)
CP_GRAVITY = 9.8
CP_MASSCART = 1.0
CP_MASSPOLE = 0.1
CP_TAU = 0.02
CP_THETA_LIMIT = 12 * 2 * torch.pi / 360
CP_X_LIMIT = 2.4


def mountaincar_step(
    states: Tensor, actions: Tensor, gravity: Tensor | float = 0.0025, goal_velocity: float = 0.0
) -> tuple[Tensor, Tensor, Tensor]:
    """One MountainCar step for a batch; see module docstring for shapes."""
    position, velocity = states[..., 0], states[..., 1]
    velocity = velocity + (actions.to(states.dtype) - 1.0) * MC_FORCE + torch.cos(3 * position) * (-gravity)
    velocity = velocity.clamp(-MC_MAX_SPEED, MC_MAX_SPEED)
    position = (position + velocity).clamp(MC_MIN_POSITION, MC_MAX_POSITION)
    velocity = torch.where((position == MC_MIN_POSITION) & (velocity < 0), torch.zeros_like(velocity), velocity)
    terminated = (position >= MC_GOAL_POSITION) & (velocity >= goal_velocity)
    reward = torch.full_like(position, -1.0)
    return torch.stack([position, velocity], dim=-1), reward, terminated


def cartpole_step(
    states: Tensor, actions: Tensor, force: Tensor | float = 10.0, length: Tensor | float = 0.5
) -> tuple[Tensor, Tensor, Tensor]:
    """One CartPole step (Euler integrator) for a batch; ``length`` is the pole half-length."""
    x, x_dot, theta, theta_dot = states.unbind(dim=-1)
    total_mass = CP_MASSPOLE + CP_MASSCART
    polemass_length = CP_MASSPOLE * length
    push = torch.where(actions == 1, 1.0, -1.0).to(states.dtype) * force
    costheta, sintheta = torch.cos(theta), torch.sin(theta)
    temp = (push + polemass_length * theta_dot.square() * sintheta) / total_mass
    thetaacc = (CP_GRAVITY * sintheta - costheta * temp) / (
        length * (4.0 / 3.0 - CP_MASSPOLE * costheta.square() / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    x = x + CP_TAU * x_dot
    x_dot = x_dot + CP_TAU * xacc
    theta = theta + CP_TAU * theta_dot
    theta_dot = theta_dot + CP_TAU * thetaacc
    next_states = torch.stack([x, x_dot, theta, theta_dot], dim=-1)
    terminated = (x < -CP_X_LIMIT) | (x > CP_X_LIMIT) | (theta < -CP_THETA_LIMIT) | (theta > CP_THETA_LIMIT)
    reward = torch.ones_like(x)
    return next_states, reward, terminated


def batched_step(
    env_name: str, states: Tensor, actions: Tensor, covariates: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Dispatch on ``env_name`` with covariates ``[B, C]`` in the spec's column order."""
    if env_name == "mountaincar":
        return mountaincar_step(states, actions, gravity=covariates[..., 0])
    if env_name == "cartpole":
        return cartpole_step(states, actions, force=covariates[..., 0], length=covariates[..., 1])
    raise ValueError(f"no batched torch dynamics for env {env_name!r} (only mountaincar, cartpole)")
