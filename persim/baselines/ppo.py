"""A compact batched PPO (clipped surrogate, GAE) for N parallel torch environments.

Used by MOReL (:mod:`persim.baselines.morel`) to learn a policy inside the pessimistic MDP; it
works with any environment following :class:`BatchedEnv` (the learned P-MDP or the true batched
MountainCar / CartPole dynamics). Everything stays a tensor on one device: an iteration collects
``rollout_length`` lock-steps of all ``n_envs`` environments, computes GAE advantages and takes
``epochs`` passes of minibatch updates.

Policies: a categorical policy for discrete actions; for continuous actions in ``[-1, 1]`` a
Gaussian with a state-independent log std whose samples are *clipped* to ``[-1, 1]`` by the
environment (the log-probability is that of the unclipped sample, as in CleanRL / SB3). Greedy
actions are the argmax / the clipped mean. Observations are standardised with fixed statistics
(e.g. of the offline dataset) and clipped to +-10 standard deviations.

Truncation (the episode cap) is not termination: the reward of a truncated step is bootstrapped
with ``gamma * V(final_obs)``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Normal

from persim.guards import check_loss, check_rate, check_weights
from persim.models.normalizer import Standardizer
from persim.progress import Progress

Tensor = torch.Tensor
OBS_CLIP = 10.0


@dataclass
class PPOConfig:
    """PPO settings; one iteration = ``rollout_length * n_envs`` env steps.

    Attributes:
        n_envs: parallel environments N (owned by the env; checked against it).
        rollout_length: lock-steps per iteration L.
        iterations: policy-update iterations.
        epochs: passes over the ``L * N`` samples per iteration.
        minibatch_size: samples per gradient step.
        learning_rate: Adam step size (annealed linearly to 0 when ``anneal_lr``).
        clip: PPO ratio clip epsilon.
        gamma, gae_lambda: discount and GAE lambda.
        entropy_coef, value_coef: loss weights.
        max_grad_norm: gradient-norm clip.
        hidden: hidden sizes of the actor and of the critic (tanh MLPs).
        init_log_std: initial log std of the Gaussian (continuous actions).
    """

    n_envs: int = 64
    rollout_length: int = 256
    iterations: int = 100
    epochs: int = 10
    minibatch_size: int = 2048
    learning_rate: float = 3e-4
    clip: float = 0.2
    gamma: float = 0.99
    gae_lambda: float = 0.95
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    init_log_std: float = -0.5
    anneal_lr: bool = True

    def __post_init__(self) -> None:
        for key in ("n_envs", "rollout_length", "iterations", "epochs", "minibatch_size"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"ppo {key} must be >= 1, got {getattr(self, key)}")
        for key in ("gamma", "gae_lambda"):
            if not 0.0 <= float(getattr(self, key)) <= 1.0:
                raise ValueError(f"ppo {key} must be in [0, 1], got {getattr(self, key)}")
        check_rate("ppo learning_rate (morel.policy_lr)", self.learning_rate)
        if not self.clip > 0:
            raise ValueError(f"ppo clip must be > 0, got {self.clip}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"ppo hidden must be a non-empty list of positive sizes, got {self.hidden}")


class BatchedEnv(Protocol):
    """N parallel episodes as tensors, with same-step autoreset.

    ``reset() -> obs [N, D]``; ``step(actions [N] int64 | [N, A]) -> (obs [N, D], reward [N],
    terminated [N] bool, truncated [N] bool, halted [N] bool)``. Finished episodes restart at once:
    the returned ``obs`` of a finished env is its new start state and ``final_obs [N, D]`` holds the
    last state of the finished episode.
    """

    n_envs: int
    obs_dim: int
    n_actions: int  # 0 = continuous
    action_dim: int  # 0 = discrete
    final_obs: Tensor

    def reset(self) -> Tensor: ...

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]: ...


def _mlp(sizes: list[int], out_gain: float) -> nn.Sequential:
    """Tanh MLP with orthogonal weights (gain sqrt 2, last layer ``out_gain``) and zero biases."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b)
        last = i == len(sizes) - 2
        nn.init.orthogonal_(lin.weight, out_gain if last else math.sqrt(2))
        nn.init.zeros_(lin.bias)
        layers += [lin] if last else [lin, nn.Tanh()]
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs on standardised observations ``[B, D]``.

    Args:
        n_actions: number of discrete actions, or 0 for continuous actions of size ``action_dim``.
    """

    def __init__(self, obs_dim: int, n_actions: int, action_dim: int, hidden: list[int], init_log_std: float = -0.5):
        super().__init__()
        if (n_actions > 0) == (action_dim > 0):
            raise ValueError(f"give exactly one of n_actions / action_dim > 0, got {n_actions}, {action_dim}")
        self.obs_dim, self.n_actions, self.action_dim = obs_dim, n_actions, action_dim
        self.discrete = n_actions > 0
        self.obs_norm = Standardizer(obs_dim)
        self.actor = _mlp([obs_dim, *hidden, n_actions or action_dim], out_gain=0.01)
        self.critic = _mlp([obs_dim, *hidden, 1], out_gain=1.0)
        self.log_std = None if self.discrete else nn.Parameter(torch.full((action_dim,), float(init_log_std)))

    def _x(self, obs: Tensor) -> Tensor:
        return self.obs_norm(obs).clamp(-OBS_CLIP, OBS_CLIP)

    def distribution(self, obs: Tensor) -> Distribution:
        """Action distribution for ``obs [B, D]``; ``log_prob``/``entropy`` give ``[B]`` via :func:`log_prob`."""
        out = self.actor(self._x(obs))
        if self.discrete:
            return Categorical(logits=out)
        return Normal(out, self.log_std.exp().expand_as(out))

    def log_prob(self, dist: Distribution, actions: Tensor) -> Tensor:
        lp = dist.log_prob(actions)
        return lp if self.discrete else lp.sum(-1)

    def entropy(self, dist: Distribution) -> Tensor:
        ent = dist.entropy()
        return ent if self.discrete else ent.sum(-1)

    def value(self, obs: Tensor) -> Tensor:
        """State values ``[B]``."""
        return self.critic(self._x(obs)).squeeze(-1)

    def greedy(self, obs: Tensor) -> Tensor:
        """Deterministic actions: argmax ``[B]`` int64, or the mean clipped to [-1, 1] ``[B, A]``."""
        out = self.actor(self._x(obs))
        return out.argmax(-1) if self.discrete else out.clamp(-1.0, 1.0)

    def env_action(self, sample: Tensor) -> Tensor:
        """What the env receives for a policy sample (continuous samples clipped to [-1, 1])."""
        return sample if self.discrete else sample.clamp(-1.0, 1.0)


@dataclass
class Rollout:
    """One iteration's samples, ``[L, N, ...]``; ``returns``/``halts`` are of episodes finished in it."""

    obs: Tensor
    actions: Tensor
    logp: Tensor
    values: Tensor
    rewards: Tensor  # truncated steps include gamma * V(final_obs)
    dones: Tensor
    last_value: Tensor
    returns: list[float]
    halts: list[bool]


class _EpisodeStats:
    """Undiscounted running returns ``[N]`` of the current episodes (raw env rewards).

    Finished episodes are kept on the device and read out once per iteration (no per-step sync).
    """

    def __init__(self, n: int, device):
        self.ret = torch.zeros(n, device=device)
        self._rows: list[tuple[Tensor, Tensor, Tensor]] = []

    def add(self, reward: Tensor, done: Tensor, halted: Tensor) -> None:
        self.ret += reward
        self._rows.append((self.ret.clone(), done, halted))
        self.ret = torch.where(done, torch.zeros_like(self.ret), self.ret)

    def flush(self) -> tuple[list[float], list[bool]]:
        """Returns and halt flags of the episodes finished since the last flush."""
        if not self._rows:
            return [], []
        ret, done, halted = (torch.stack(c) for c in zip(*self._rows))
        self._rows = []
        return ret[done].tolist(), halted[done].tolist()


@torch.no_grad()
def collect(env: BatchedEnv, ac: ActorCritic, obs: Tensor, length: int, gamma: float,
            stats: _EpisodeStats) -> tuple[Rollout, Tensor]:
    """Run ``length`` lock-steps from ``obs [N, D]``; returns the rollout and the next observations."""
    cols: dict[str, list[Tensor]] = {k: [] for k in ("obs", "actions", "logp", "values", "rewards", "dones")}
    for _ in range(length):
        dist = ac.distribution(obs)
        sample = dist.sample()
        value = ac.value(obs)
        next_obs, reward, term, trunc, halted = env.step(ac.env_action(sample))
        done = term | trunc
        stats.add(reward, done, halted)
        boot = trunc & ~term  # time limit, not termination: bootstrap with V(final_obs)
        learn_reward = torch.where(boot, reward + gamma * ac.value(env.final_obs), reward)
        for key, val in zip(cols, (obs, sample, ac.log_prob(dist, sample), value, learn_reward, done)):
            cols[key].append(val)
        obs = next_obs
    stacked = {k: torch.stack(v) for k, v in cols.items()}
    returns, halts = stats.flush()
    return Rollout(**stacked, last_value=ac.value(obs), returns=returns, halts=halts), obs


def gae(rewards: Tensor, values: Tensor, dones: Tensor, last_value: Tensor, gamma: float, lam: float) -> Tensor:
    """Generalised advantage estimates ``[L, N]`` (``dones[t]``: the episode ended at step t)."""
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    next_value = last_value
    for t in range(rewards.shape[0] - 1, -1, -1):
        keep = (~dones[t]).to(rewards.dtype)
        delta = rewards[t] + gamma * next_value * keep - values[t]
        running = delta + gamma * lam * keep * running
        adv[t] = running
        next_value = values[t]
    return adv


def update(ac: ActorCritic, opt: torch.optim.Optimizer, ro: Rollout, cfg: PPOConfig,
           gen: torch.Generator) -> dict[str, float]:
    """``cfg.epochs`` passes of clipped-surrogate minibatch steps; returns mean losses."""
    adv = gae(ro.rewards, ro.values, ro.dones, ro.last_value, cfg.gamma, cfg.gae_lambda)
    ret = adv + ro.values
    n = adv.numel()
    flat = {"obs": ro.obs.reshape(n, -1), "actions": ro.actions.reshape(n, *ro.actions.shape[2:]),
            "logp": ro.logp.reshape(n), "adv": adv.reshape(n), "ret": ret.reshape(n)}
    sums = {"pg": 0.0, "v": 0.0, "entropy": 0.0}
    steps = 0
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen).to(adv.device)
        for idx in perm.split(cfg.minibatch_size):
            dist = ac.distribution(flat["obs"][idx])
            ratio = (ac.log_prob(dist, flat["actions"][idx]) - flat["logp"][idx]).exp()
            a = flat["adv"][idx]
            a = (a - a.mean()) / (a.std() + 1e-8) if len(idx) > 1 else a
            pg = -torch.min(ratio * a, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * a).mean()
            v_loss = 0.5 * (ac.value(flat["obs"][idx]) - flat["ret"][idx]).square().mean()
            ent = ac.entropy(dist).mean()
            loss = pg + cfg.value_coef * v_loss - cfg.entropy_coef * ent
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(ac.parameters(), cfg.max_grad_norm)
            opt.step()
            sums["pg"] += pg.item(); sums["v"] += v_loss.item(); sums["entropy"] += ent.item()  # noqa: E702
            steps += 1
    return {k: v / max(steps, 1) for k, v in sums.items()}


def train_ppo(env: BatchedEnv, cfg: PPOConfig, seed: int, obs_mean: Tensor | np.ndarray | None = None,
              obs_std: Tensor | np.ndarray | None = None, device: str = "cpu",
              logger: logging.Logger | None = None, label: str = "ppo") -> tuple[ActorCritic, dict[str, list[float]]]:
    """Train a policy in ``env``; returns it (eval mode) and a per-iteration history.

    Args:
        env: a :class:`BatchedEnv` on ``device`` with ``env.n_envs == cfg.n_envs``.
        obs_mean, obs_std: ``[D]`` observation statistics (e.g. of the offline data); default 0 / 1.
    Returns:
        ``(actor_critic, history)`` with history keys ``mean_return`` (undiscounted, episodes that
        finished in the iteration; NaN if none), ``halt_rate`` (share of those that were halted),
        ``episodes``, ``pg_loss``, ``v_loss``, ``entropy``.
    """
    if env.n_envs != cfg.n_envs:
        raise ValueError(f"env has {env.n_envs} parallel envs but the PPO config says n_envs={cfg.n_envs}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    ac = ActorCritic(env.obs_dim, env.n_actions, env.action_dim, list(cfg.hidden), cfg.init_log_std).to(device)
    if obs_mean is not None:
        ac.obs_norm.mean.copy_(torch.as_tensor(obs_mean, dtype=torch.float32))
    if obs_std is not None:
        ac.obs_norm.std.copy_(torch.as_tensor(obs_std, dtype=torch.float32))
    opt = torch.optim.Adam(ac.parameters(), lr=cfg.learning_rate, eps=1e-5)
    history: dict[str, list[float]] = {k: [] for k in ("mean_return", "halt_rate", "episodes", "pg_loss", "v_loss", "entropy")}
    progress = Progress(cfg.iterations, f"{label} iterations", every=max(1, cfg.iterations // 20), logger=logger)
    stats = _EpisodeStats(env.n_envs, device)
    obs = env.reset()
    for it in range(cfg.iterations):
        if cfg.anneal_lr:
            opt.param_groups[0]["lr"] = cfg.learning_rate * (1.0 - it / cfg.iterations)
        ac.train()
        ro, obs = collect(env, ac, obs, cfg.rollout_length, cfg.gamma, stats)
        losses = update(ac, opt, ro, cfg, gen)
        check_loss(losses["pg"], f"PPO ({label})", it + 1, v_loss=losses["v"], entropy=losses["entropy"])
        _record(history, ro, losses)
        progress.update(1, mean_return=history["mean_return"][-1], halt_rate=history["halt_rate"][-1],
                        episodes=history["episodes"][-1])
    progress.close()
    check_weights(ac.named_parameters(), f"PPO ({label})")
    return ac.eval(), history


def _record(history: dict[str, list[float]], ro: Rollout, losses: dict[str, float]) -> None:
    history["mean_return"].append(float(np.mean(ro.returns)) if ro.returns else float("nan"))
    history["halt_rate"].append(float(np.mean(ro.halts)) if ro.halts else float("nan"))
    history["episodes"].append(float(len(ro.returns)))
    history["pg_loss"].append(losses["pg"])
    history["v_loss"].append(losses["v"])
    history["entropy"].append(losses["entropy"])
