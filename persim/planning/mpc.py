"""Model-predictive control over an ensemble: random shooting (discrete) and CEM (continuous).

Everything is one batched tensor computation per horizon step: E parallel episodes x C candidate
sequences x M ensemble members. A candidate's score is its summed known reward averaged over the
members, each member rolling the candidate on its own predictions (paper App. D.1); rewards after
a predicted termination are not counted. The first action of the best candidate is executed.

``step_fn(states [M, E*C, D], actions [E*C] | [E*C, A]) -> next_states [M, E*C, D]`` is the model
(one agent per episode, closed over by the caller); the true dynamics fit the same signature
with M = 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from persim.allocator import gc_paused
from persim.guards import check_output
from persim.planning.rewards import RewardFn
from persim.protocols import StepFn


@dataclass
class MPCConfig:
    """Planner settings (paper: discrete 1000 candidates x horizon 50; CEM 200 x 30, 5 iterations,
    50 elites, smoothing 0.1). ``mc_position_bonus`` adds bonus x max planned position
    (MountainCar's sparse goal is rarely inside a 50-step horizon; the authors' planner does this)."""

    n_candidates: int = 1000
    horizon: int = 50
    cem_iterations: int = 5
    n_elites: int = 50
    smoothing: float = 0.1
    init_std_low: float = 0.3
    init_std_high: float = 0.6
    mc_position_bonus: float = 0.01


def rollout_scores(step_fn: StepFn, reward: RewardFn, states: torch.Tensor, actions: torch.Tensor,
                   n_members: int, position_bonus: float = 0.0) -> torch.Tensor:
    """Scores ``[E, C]`` of candidate sequences ``actions [E, C, H] | [E, C, H, A]`` from ``states [E, D]``."""
    e, c, h = actions.shape[:3]
    s = states.repeat_interleave(c, dim=0).unsqueeze(0).expand(n_members, -1, -1).contiguous()  # [M, E*C, D]
    flat = actions.reshape(e * c, h, *actions.shape[3:])
    total = torch.zeros(n_members, e * c, device=states.device)
    alive = torch.ones(n_members, e * c, dtype=torch.bool, device=states.device)
    max_pos = s[..., 0].clone()
    with gc_paused():  # thousands of small tensor ops, no reference cycles
        for t in range(h):
            a = flat[:, t]
            nxt = step_fn(s, a)
            r, done = reward(s, a.unsqueeze(0).expand(n_members, *a.shape), nxt)
            total += r * alive
            alive &= ~done
            if position_bonus:
                max_pos = torch.maximum(max_pos, nxt[..., 0])
            s = nxt
    check_output(s, "MPC candidate rollouts (the model's predicted states)")  # NaN propagates to the last state
    if position_bonus:
        total += position_bonus * max_pos
    return check_output(total.mean(0).view(e, c), "MPC candidate scores")


class RandomShooting:
    """Discrete-action MPC: C uniform random sequences of length H per episode."""

    def __init__(self, cfg: MPCConfig, n_actions: int, reward: RewardFn, n_members: int,
                 position_bonus: float = 0.0, generator: torch.Generator | None = None):
        self.cfg, self.n_actions, self.reward, self.m = cfg, n_actions, reward, n_members
        self.bonus, self.gen = position_bonus, generator

    def reset(self, n_episodes: int) -> None:  # stateless; same interface as CEM
        pass

    @torch.no_grad()
    def act(self, step_fn: StepFn, states: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
        """First actions ``[E]`` for states ``[E, D]``."""
        e = states.shape[0]
        cand = torch.randint(self.n_actions, (e, self.cfg.n_candidates, self.cfg.horizon), generator=self.gen,
                             device="cpu").to(states.device)
        scores = rollout_scores(step_fn, self.reward, states, cand, self.m, self.bonus)
        best = scores.argmax(1)
        return cand[torch.arange(e), best, 0]


class CEM:
    """Continuous-action MPC by the cross-entropy method with a shifted warm start."""

    def __init__(self, cfg: MPCConfig, action_low: torch.Tensor, action_high: torch.Tensor, reward: RewardFn,
                 n_members: int, generator: torch.Generator | None = None):
        self.cfg, self.reward, self.m, self.gen = cfg, reward, n_members, generator
        self.low, self.high = action_low, action_high
        self.mean: torch.Tensor | None = None
        self.init_std: torch.Tensor | None = None

    def reset(self, n_episodes: int) -> None:
        """Start new episodes: zero mean, initial std drawn in [init_std_low, init_std_high] per dim."""
        h, a = self.cfg.horizon, self.low.shape[0]
        self.mean = torch.zeros(n_episodes, h, a)
        u = torch.rand(n_episodes, 1, a, generator=self.gen)
        self.init_std = self.cfg.init_std_low + (self.cfg.init_std_high - self.cfg.init_std_low) * u

    @torch.no_grad()
    def act(self, step_fn: StepFn, states: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
        """First actions ``[E, A]``; ``active`` ``[E]`` bool selects which warm starts the states belong to."""
        cfg = self.cfg
        idx = torch.arange(self.mean.shape[0]) if active is None else torch.nonzero(active.cpu()).squeeze(1)
        dev = states.device
        low, high = self.low.to(dev), self.high.to(dev)
        mean = self.mean[idx].to(dev)
        std = self.init_std[idx].to(dev).expand_as(mean).clone()
        e = len(idx)
        for _ in range(cfg.cem_iterations):
            noise = torch.randn(e, cfg.n_candidates, *mean.shape[1:], generator=self.gen).to(dev)
            cand = (mean.unsqueeze(1) + std.unsqueeze(1) * noise).clamp(low, high)
            scores = rollout_scores(step_fn, self.reward, states, cand, self.m)
            elite_idx = scores.topk(cfg.n_elites, dim=1).indices
            elites = cand[torch.arange(e).unsqueeze(1), elite_idx]  # [E, K, H, A]
            mean = cfg.smoothing * mean + (1 - cfg.smoothing) * elites.mean(1)
            std = cfg.smoothing * std + (1 - cfg.smoothing) * elites.std(1)
        first = elites[:, :, 0].mean(1)  # mean of the elites' first actions
        shifted = torch.cat([mean[:, 1:], torch.zeros_like(mean[:, :1])], dim=1)
        self.mean[idx] = shifted.cpu()
        return first
