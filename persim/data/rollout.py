"""The one lock-step rollout loop: every way an agent acts in the true envs goes through it.

All envs advance one step together; the observations of the still-running ones are stacked into one
``[B, D]`` batch and handed to an :class:`Actor`, so a 500-agent dataset costs 500 env steps but
only one decision call per time step. Actors: :class:`PolicyActor` (learned policies, optionally
epsilon-random: the datasets, policy evaluation, the test rollouts) and
:class:`persim.planning.actor.MPCActor` (MPC on a learned simulator or on the true dynamics: the
reward evaluation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import gymnasium as gym
import numpy as np

from persim.protocols import Act  # obs [B, D] -> actions [B] (int) or [B, A] (float)



class Actor(Protocol):
    """Chooses the actions of many envs stepped in lock step."""

    def reset(self, envs: Sequence[gym.Env]) -> None:
        """New episodes start in ``envs`` (all of them)."""

    def act(self, idx: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """Actions ``[B']`` int64 | ``[B', A]`` float32 for the running envs ``idx [B']`` observing ``obs [B', D]``."""

    def observe(self, idx: np.ndarray, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray) -> None:
        """The envs ``idx`` went from ``obs`` to ``next_obs`` with ``actions`` (for actors with memory)."""


class PolicyActor:
    """K policies, one assigned to each env, each called once per step on its envs' batch; with
    probability ``epsilon`` an action is replaced by a uniform random one (drawn from ``rng``)."""

    def __init__(self, policies: Sequence[Act] = (), policy_index: np.ndarray | None = None, epsilon: float = 0.0,
                 rng: np.random.Generator | None = None):
        if epsilon < 1.0 and not policies:
            raise ValueError(f"epsilon={epsilon} < 1 needs at least one policy")
        self.policies, self.epsilon = list(policies), epsilon
        self.policy_index = None if policy_index is None else np.asarray(policy_index)
        self.rng = rng or np.random.default_rng(0)

    def reset(self, envs: Sequence[gym.Env]) -> None:
        self.space = envs[0].action_space
        if self.policy_index is None:
            self.policy_index = np.zeros(len(envs), dtype=np.int64)

    def act(self, idx: np.ndarray, obs: np.ndarray) -> np.ndarray:
        return _choose_actions(obs, self.policy_index[idx], self.policies, self.epsilon, self.space, self.rng)

    def observe(self, idx, obs, actions, next_obs) -> None:
        pass


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

    def episode_returns(self, n_episodes: int, terminal_reward: float | None = None) -> np.ndarray:
        """Undiscounted return per episode ``[n_episodes]``; with ``terminal_reward``, the step that
        ended an episode (``terminated``, not a truncation) scores that instead of the env's reward."""
        rewards = self.rewards
        if terminal_reward is not None:
            rewards = np.where(self.terminated, float(terminal_reward), rewards)
        return np.bincount(self.episode, weights=rewards, minlength=n_episodes)

    def episode_lengths(self, n_episodes: int) -> np.ndarray:
        """Number of transitions per episode ``[n_episodes]``."""
        return np.bincount(self.episode, minlength=n_episodes)


def _random_actions(space: gym.Space, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.n, size=n).astype(np.int64) + int(space.start)
    return rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(np.float32)


def rollout(envs: Sequence[gym.Env], seeds: Sequence[int], actor: Actor,
            on_step: Callable[[int, int, np.ndarray], None] | None = None, n_steps: int | None = None) -> Transitions:
    """Run one episode in each env with ``actor`` choosing every action.

    Args:
        envs: B environments (each with its own covariates and TimeLimit).
        seeds: B reset seeds.
        actor: decides the actions (:class:`PolicyActor`, an MPC actor, ...).
        on_step: called after every lock-step with (steps done, envs still running, returns so far ``[B]``).
        n_steps: step every env exactly this many times, on past termination (the prediction
            evaluation's fixed-length rollouts; use unwrapped envs); None = until each episode ends.
    """
    n = len(envs)
    if len(seeds) != n:
        raise ValueError(f"need one seed per env: {len(seeds)} seeds for {n} envs")
    obs = np.stack([env.reset(seed=int(s))[0] for env, s in zip(envs, seeds)]).astype(np.float32)
    actor.reset(envs)
    running = np.ones(n, dtype=bool)
    t = np.zeros(n, dtype=np.int64)
    returns = np.zeros(n)
    rec: dict[str, list] = {k: [] for k in ("episode", "t", "obs", "actions", "rewards", "next_obs", "terminated", "truncated")}
    step = 0
    while running.any():
        idx = np.flatnonzero(running)
        actions = np.asarray(actor.act(idx, obs[idx]))
        next_obs = np.empty_like(obs[idx])
        rewards = np.empty(len(idx)); term = np.empty(len(idx), bool); trunc = np.empty(len(idx), bool)
        for j, i in enumerate(idx):
            o, r, te, tr, _ = envs[i].step(actions[j] if actions.ndim > 1 else int(actions[j]))
            next_obs[j], rewards[j], term[j], trunc[j] = o, r, te, tr
        for key, val in zip(rec, (idx, t[idx], obs[idx], actions, rewards, next_obs, term, trunc)):
            rec[key].append(np.asarray(val).copy())
        actor.observe(idx, obs[idx], actions, next_obs)
        obs[idx] = next_obs
        t[idx] += 1
        returns[idx] += rewards
        step += 1
        if n_steps is None:
            running[idx[term | trunc]] = False
        elif step >= n_steps:
            running[:] = False
        if on_step is not None:
            on_step(step, int(running.sum()), returns)
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
