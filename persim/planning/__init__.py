"""MPC planners (random shooting, CEM) and the known reward functions they score with."""
from persim.planning.mpc import CEM, MPCConfig, RandomShooting, rollout_scores
from persim.planning.rewards import reward_fn

__all__ = ["CEM", "MPCConfig", "RandomShooting", "reward_fn", "rollout_scores"]
