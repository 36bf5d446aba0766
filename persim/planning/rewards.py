"""Known reward and termination functions on batched states (the paper assumes R is known).

``reward_fn(env)(states [..., D], actions, next_states [..., D]) -> (reward [...], terminated [...])``
follows gymnasium: MountainCar -1 per step, terminal at position >= 0.5; CartPole +1 per step
(the terminating one included), terminal when |x| > 2.4 or |theta| > 12 degrees; HalfCheetah
forward velocity (obs[17] of the next state) minus 0.1 |a|^2, never terminal.
"""
from __future__ import annotations

from typing import Callable

import torch

from persim.envs.specs import ENV_NAMES
from persim.envs.torch_dynamics import CP_THETA_LIMIT, CP_X_LIMIT, MC_GOAL_POSITION

RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
HC_CTRL_COST = 0.1


def mountaincar_reward(states, actions, next_states):
    pos, vel = next_states[..., 0], next_states[..., 1]
    return torch.full_like(pos, -1.0), (pos >= MC_GOAL_POSITION) & (vel >= 0)


def cartpole_reward(states, actions, next_states):
    x, theta = next_states[..., 0], next_states[..., 2]
    done = (x.abs() > CP_X_LIMIT) | (theta.abs() > CP_THETA_LIMIT)
    return torch.ones_like(x), done


def halfcheetah_reward(states, actions, next_states):
    ctrl = HC_CTRL_COST * actions.square().sum(-1)
    reward = next_states[..., 17] - ctrl
    return reward, torch.zeros_like(reward, dtype=torch.bool)


REWARDS: dict[str, RewardFn] = {
    "mountaincar": mountaincar_reward, "cartpole": cartpole_reward, "halfcheetah": halfcheetah_reward,
}


def reward_fn(env: str) -> RewardFn:
    try:
        return REWARDS[env]
    except KeyError:
        raise KeyError(f"no known reward for env {env!r}: register one with "
                       "persim.planning.rewards.register_reward") from None


def register_reward(env: str, fn: RewardFn, replace: bool = False) -> None:
    """The known reward of your own env (``persim.envs.register_env``): ``fn(states [..., D], actions,
    next_states [..., D]) -> (reward [...], terminated [...] bool)`` on torch tensors, batched over any
    leading shape. MPC scores candidates with it and MOReL's pessimistic MDP pays it."""
    if env in ENV_NAMES:
        raise ValueError(f"env {env!r} is one of the paper's: its reward is fixed")
    if env in REWARDS and not replace:
        raise ValueError(f"env {env!r} already has a reward (pass replace=True to replace it)")
    REWARDS[env] = fn


def unregister_reward(env: str) -> None:
    """Remove a reward added by :func:`register_reward`."""
    if env not in ENV_NAMES:
        REWARDS.pop(env, None)
