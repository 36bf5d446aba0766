"""Model-predictive control over an ensemble: random shooting (discrete) and CEM (continuous).

Everything is one batched tensor computation per horizon step: E parallel episodes x C candidate
sequences x M ensemble members. A candidate's score is its summed known reward averaged over the
members, each member rolling the candidate on its own predictions (paper App. D.1); rewards after
a predicted termination are not counted. The first action of the best candidate is executed.

Details follow the authors' planner (AbdullahO/PerSim, ``mpc/mpc.py``), each a config option that
defaults to their behaviour (:class:`MPCConfig`): random shooting's candidate 0 is the previous
step's best sequence shifted by one step; the step that terminates an episode earns nothing; the
MountainCar position bonus is applied at every horizon step for every member's maximum position;
CEM starts every step from std 0.5 around the shifted elite mean, refits to the elites' mean and
std without smoothing, and redraws actions that fall outside the bounds.

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
    50 elites). Defaults are the authors' planner (module docstring).

    ``mc_position_bonus``: weight of the maximum planned position (MountainCar's sparse goal is
    rarely inside a 50-step horizon). With ``bonus_per_step`` (authors) it is added at each of the H
    horizon steps for each of the M members' maxima, i.e. a candidate's member-mean score gains
    ``bonus x H x sum_m max_pos_m``; otherwise ``bonus x mean_m max_pos_m`` once.
    ``warm_start``: random shooting's candidate 0 is the previous best sequence shifted by one step
    (its last action random). ``count_terminal_reward``: False (authors) = the step that ends an
    episode earns nothing. CEM: ``smoothing`` of mean and std between iterations (authors 0),
    initial std drawn per episode and action coordinate in ``[init_std_low, init_std_high]``
    (authors 0.5 both), ``resample_out_of_bounds`` (authors) redraws actions outside the bounds
    instead of clamping them (clamping piles the mass onto the bounds).
    """

    n_candidates: int = 1000
    horizon: int = 50
    cem_iterations: int = 5
    n_elites: int = 50
    smoothing: float = 0.0
    init_std_low: float = 0.5
    init_std_high: float = 0.5
    mc_position_bonus: float = 0.01
    bonus_per_step: bool = True
    warm_start: bool = True
    count_terminal_reward: bool = False
    resample_out_of_bounds: bool = True

    def __post_init__(self) -> None:
        for name in ("n_candidates", "horizon", "cem_iterations", "n_elites"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing}")
        if not 0 < self.init_std_low <= self.init_std_high:
            raise ValueError(f"need 0 < init_std_low <= init_std_high, got {self.init_std_low} and {self.init_std_high}")


def rollout_scores(step_fn: StepFn, reward: RewardFn, states: torch.Tensor, actions: torch.Tensor,
                   n_members: int, position_bonus: float = 0.0, bonus_per_step: bool = True,
                   count_terminal_reward: bool = False) -> torch.Tensor:
    """Scores ``[E, C]`` of candidate sequences ``actions [E, C, H] | [E, C, H, A]`` from ``states [E, D]``
    (``bonus_per_step``, ``count_terminal_reward``: see :class:`MPCConfig`)."""
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
            if count_terminal_reward:
                total += r * alive
                alive &= ~done
            else:  # the authors': the terminating step earns nothing
                alive &= ~done
                total += r * alive
            if position_bonus:
                max_pos = torch.maximum(max_pos, nxt[..., 0])
            s = nxt
    check_output(s, "MPC candidate rollouts (the model's predicted states)")  # NaN propagates to the last state
    if position_bonus and bonus_per_step:  # the authors': at each of the H steps, every member's maximum
        total += position_bonus * h * max_pos.sum(0, keepdim=True)
    elif position_bonus:
        total += position_bonus * max_pos
    return check_output(total.mean(0).view(e, c), "MPC candidate scores")


def _episodes(active: torch.Tensor | None, n: int) -> torch.Tensor:
    """Indices of the episodes the states belong to (``active [E]`` bool, None = all ``n``)."""
    return torch.arange(n) if active is None else torch.nonzero(active.cpu()).squeeze(1)


class RandomShooting:
    """Discrete-action MPC: C uniform random sequences of length H per episode (candidate 0 the
    previous best shifted, with ``warm_start``)."""

    def __init__(self, cfg: MPCConfig, n_actions: int, reward: RewardFn, n_members: int,
                 position_bonus: float = 0.0, generator: torch.Generator | None = None):
        self.cfg, self.n_actions, self.reward, self.m = cfg, n_actions, reward, n_members
        self.bonus, self.gen = position_bonus, generator
        self.best: torch.Tensor | None = None  # [E, H] previous best sequence per episode (-1: none yet)

    def reset(self, n_episodes: int) -> None:
        """Start new episodes: no previous best sequence."""
        self.best = torch.full((n_episodes, self.cfg.horizon), -1, dtype=torch.int64)

    @torch.no_grad()
    def act(self, step_fn: StepFn, states: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
        """First actions ``[E]`` for states ``[E, D]``; ``active`` ``[E]`` bool: which episodes they are."""
        return self.plan(step_fn, states, active)[:, 0]

    @torch.no_grad()
    def plan(self, step_fn: StepFn, states: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
        """The best candidate sequence ``[E, H]`` of each episode (:meth:`act` executes its first action;
        the synthetic trajectories of Table 3 execute all of it)."""
        e, cfg = states.shape[0], self.cfg
        cand = torch.randint(self.n_actions, (e, cfg.n_candidates, cfg.horizon), generator=self.gen, device="cpu")
        if cfg.warm_start and self.best is not None:
            idx = _episodes(active, len(self.best))
            prev = self.best[idx]
            has = prev[:, 0] >= 0
            cand[has, 0, :-1] = prev[has, 1:]  # shifted; the last action stays random
        cand = cand.to(states.device)
        scores = rollout_scores(step_fn, self.reward, states, cand, self.m, self.bonus, cfg.bonus_per_step,
                                cfg.count_terminal_reward)
        chosen = cand[torch.arange(e), scores.argmax(1)]  # [E, H]
        if cfg.warm_start and self.best is not None:
            self.best[idx] = chosen.cpu()
        return chosen


class CEM:
    """Continuous-action MPC by the cross-entropy method with a shifted warm start."""

    def __init__(self, cfg: MPCConfig, action_low: torch.Tensor, action_high: torch.Tensor, reward: RewardFn,
                 n_members: int, generator: torch.Generator | None = None):
        if not 1 <= cfg.n_elites <= cfg.n_candidates:
            raise ValueError(f"n_elites must be between 1 and n_candidates ({cfg.n_candidates}), got {cfg.n_elites}")
        if cfg.cem_iterations > 1 and cfg.n_elites < 2:
            raise ValueError(f"n_elites must be >= 2 with cem_iterations {cfg.cem_iterations} > 1 (the elites' std "
                             "sets the next iteration's)")
        self.cfg, self.reward, self.m, self.gen = cfg, reward, n_members, generator
        self.low, self.high = action_low, action_high
        self.mid, self.half = (action_low + action_high) / 2, (action_high - action_low) / 2  # [A] box centre, half-width
        self.mean: torch.Tensor | None = None
        self.init_std: torch.Tensor | None = None

    def reset(self, n_episodes: int) -> None:
        """Start new episodes: the mean at the action box's centre (0 for HalfCheetah's [-1, 1]), initial
        std drawn in [init_std_low, init_std_high] per dim, in units of the box's half-width (1 there)."""
        h, a = self.cfg.horizon, self.low.shape[0]
        self.mean = torch.zeros(n_episodes, h, a) + self.mid
        u = torch.rand(n_episodes, 1, a, generator=self.gen)
        self.init_std = (self.cfg.init_std_low + (self.cfg.init_std_high - self.cfg.init_std_low) * u) * self.half

    @torch.no_grad()
    def act(self, step_fn: StepFn, states: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
        """First actions ``[E, A]`` (the mean of the elites' first actions); ``active`` ``[E]`` bool
        selects which warm starts the states belong to."""
        return self._search(step_fn, states, active)[:, :, 0].mean(1)

    @torch.no_grad()
    def plan(self, step_fn: StepFn, states: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
        """The elites' mean sequence ``[E, H, A]`` of the last iteration (its first action is :meth:`act`'s)."""
        return self._search(step_fn, states, active).mean(1)

    def _search(self, step_fn: StepFn, states: torch.Tensor, active: torch.Tensor | None) -> torch.Tensor:
        """CEM iterations; returns the last iteration's elites ``[E, K, H, A]`` and shifts the warm start."""
        cfg = self.cfg
        idx = _episodes(active, self.mean.shape[0])
        dev = states.device
        low, high = self.low.to(dev), self.high.to(dev)
        mean = self.mean[idx].to(dev)
        std = self.init_std[idx].to(dev).expand_as(mean).clone()
        e = len(idx)
        for _ in range(cfg.cem_iterations):
            cand = self._sample(mean, std, low, high)
            scores = rollout_scores(step_fn, self.reward, states, cand, self.m,
                                    count_terminal_reward=cfg.count_terminal_reward)
            elite_idx = scores.topk(cfg.n_elites, dim=1).indices
            elites = cand[torch.arange(e).unsqueeze(1), elite_idx]  # [E, K, H, A]
            mean = cfg.smoothing * mean + (1 - cfg.smoothing) * elites.mean(1)
            std = cfg.smoothing * std + (1 - cfg.smoothing) * elites.std(1)
        shifted = torch.cat([mean[:, 1:], self.mid.to(dev).expand_as(mean[:, :1])], dim=1)  # new last step: the centre
        self.mean[idx] = shifted.cpu()
        return elites

    def _sample(self, mean: torch.Tensor, std: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
                max_redraws: int = 50) -> torch.Tensor:
        """Candidates ``[E, C, H, A]`` from N(mean, std) ``[E, H, A]``; out-of-bounds actions are redrawn
        (``resample_out_of_bounds``; after ``max_redraws`` rounds, or without it, clamped)."""
        shape = (mean.shape[0], self.cfg.n_candidates, *mean.shape[1:])
        draw = lambda: mean.unsqueeze(1) + std.unsqueeze(1) * torch.randn(shape, generator=self.gen).to(mean.device)  # noqa: E731
        cand = draw()
        for _ in range(max_redraws if self.cfg.resample_out_of_bounds else 0):
            out = (cand < low) | (cand > high)
            if not out.any():
                break
            cand = torch.where(out, draw(), cand)
        return cand.clamp(low, high)
