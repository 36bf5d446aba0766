"""Lock-step rollouts of many gymnasium envs with batched policy inference.

All envs advance one step together; the observations of the still-running ones are stacked into one
``[B, D]`` batch per policy, so a 500-agent dataset costs 500 env steps but only one network call per
policy and time step. Used for the datasets and for policy evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import gymnasium as gym
import numpy as np

Act = Callable[[np.ndarray], np.ndarray]  # obs [B, D] -> actions [B] (int) or [B, A] (float)


@dataclass
class Transitions:
    """Flat transitions of many episodes, in episode order then time order.

    episode: [T] index into the list of envs; t: [T] step within the episode;
    obs, next_obs: [T, D] float32; actions: [T] int64 or [T, A] float32; rewards: [T] float64;
    terminated, truncated: [T] bool.
    """

    episode: np.ndarray
    t: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray

    def episode_returns(self, n_episodes: int) -> np.ndarray:
        """Undiscounted return per episode ``[n_episodes]``."""
        return np.bincount(self.episode, weights=self.rewards, minlength=n_episodes)

    def episode_lengths(self, n_episodes: int) -> np.ndarray:
        """Number of transitions per episode ``[n_episodes]``."""
        return np.bincount(self.episode, minlength=n_episodes)


def _random_actions(space: gym.Space, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.n, size=n).astype(np.int64) + int(space.start)
    return rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(np.float32)


def rollout(
    envs: Sequence[gym.Env],
    seeds: Sequence[int],
    policies: Sequence[Act] = (),
    policy_index: np.ndarray | None = None,
    epsilon: float = 0.0,
    rng: np.random.Generator | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> Transitions:
    """Run one episode in each env; action = policy's with prob 1-epsilon, uniform random otherwise.

    Args:
        envs: B environments (each with its own covariates and TimeLimit).
        seeds: B reset seeds.
        policies: the K policies; may be empty only when ``epsilon == 1``.
        policy_index: [B] int, which policy acts in each env (default: policy 0 everywhere).
        epsilon: probability of a uniformly random action at each step.
        rng: generator for the epsilon coin flips and random actions.
        on_step: called with (steps done, envs still running) after every lock-step.
    """
    n = len(envs)
    if len(seeds) != n:
        raise ValueError(f"need one seed per env: {len(seeds)} seeds for {n} envs")
    if epsilon < 1.0 and not policies:
        raise ValueError(f"epsilon={epsilon} < 1 needs at least one policy")
    rng = rng or np.random.default_rng(0)
    policy_index = np.zeros(n, dtype=np.int64) if policy_index is None else np.asarray(policy_index)
    space = envs[0].action_space
    obs = np.stack([env.reset(seed=int(s))[0] for env, s in zip(envs, seeds)]).astype(np.float32)
    running = np.ones(n, dtype=bool)
    t = np.zeros(n, dtype=np.int64)
    rec: dict[str, list] = {k: [] for k in ("episode", "t", "obs", "actions", "rewards", "next_obs", "terminated", "truncated")}
    step = 0
    while running.any():
        idx = np.flatnonzero(running)
        actions = _choose_actions(obs[idx], policy_index[idx], policies, epsilon, space, rng)
        next_obs = np.empty_like(obs[idx])
        rewards = np.empty(len(idx)); term = np.empty(len(idx), bool); trunc = np.empty(len(idx), bool)
        for j, i in enumerate(idx):
            o, r, te, tr, _ = envs[i].step(actions[j] if actions.ndim > 1 else int(actions[j]))
            next_obs[j], rewards[j], term[j], trunc[j] = o, r, te, tr
        for key, val in zip(rec, (idx, t[idx], obs[idx], actions, rewards, next_obs, term, trunc)):
            rec[key].append(np.asarray(val).copy())
        obs[idx] = next_obs
        t[idx] += 1
        running[idx[term | trunc]] = False
        step += 1
        if on_step is not None:
            on_step(step, int(running.sum()))
    flat = {k: np.concatenate(v) for k, v in rec.items()}
    order = np.lexsort((flat["t"], flat["episode"]))
    return Transitions(**{k: v[order] for k, v in flat.items()})


def _choose_actions(obs, pidx, policies, epsilon, space, rng) -> np.ndarray:
    """Batched greedy actions per policy group, then epsilon-uniform replacement."""
    b = len(obs)
    explore = rng.random(b) < epsilon
    random_actions = _random_actions(space, b, rng)
    if explore.all():
        return random_actions
    actions = np.empty_like(random_actions)
    for k in np.unique(pidx):
        sel = pidx == k
        actions[sel] = np.asarray(policies[k](obs[sel])).astype(actions.dtype).reshape(actions[sel].shape)
    actions[explore] = random_actions[explore]
    return actions
