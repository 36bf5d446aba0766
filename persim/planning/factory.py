"""Build the MPC planner an env needs from config (random shooting if discrete, CEM otherwise)."""
from __future__ import annotations

import torch

from persim.envs import get_spec
from persim.planning.mpc import CEM, MPCConfig, RandomShooting
from persim.planning.rewards import reward_fn


def make_planner(env: str, mpc: dict, n_members: int, seed: int):
    """Planner for ``env``; ``mpc`` holds the MPCConfig fields for this env's action type."""
    spec = get_spec(env)
    cfg = MPCConfig(**mpc)
    gen = torch.Generator().manual_seed(seed)
    if spec.discrete:
        bonus = cfg.mc_position_bonus if env == "mountaincar" else 0.0
        return RandomShooting(cfg, spec.n_actions, reward_fn(env), n_members, position_bonus=bonus, generator=gen)
    low, high = torch.tensor(spec.action_low), torch.tensor(spec.action_high)
    return CEM(cfg, low, high, reward_fn(env), n_members, generator=gen)
