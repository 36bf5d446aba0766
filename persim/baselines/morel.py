"""MOReL (Kidambi et al. 2020): model-based offline RL in a pessimistic MDP (paper App. E, MOReL-P/-A).

1. **Dynamics ensemble.** M = 4 MLPs (2 hidden ReLU layers; 128 units for MountainCar / CartPole,
   1024 for HalfCheetah) predict the standardised change ``Δs`` from the standardised state and the
   action (one-hot when discrete, raw in ``[-1, 1]`` when continuous). All members live in one
   :class:`~persim.models.ensemble.EnsembleMLP` (stacked weights), are initialised independently and
   each sees its own minibatch order; loss = MSE on standardised Δs, Adam. MOReL has no notion of
   agents: the model sees (s, a) only, also when trained on all agents' data (MOReL-P).
2. **USAD** (unknown state-action detector). ``disc(s, a) = max_{i,j} ||Δs_i - Δs_j||`` over member
   pairs, measured in *standardised* Δs units (every coordinate counts alike). The threshold is
   ``threshold_factor * quantile(disc over the training transitions, threshold_quantile)``. Default:
   quantile 1.0 (the maximum) and factor 1.0, so no training transition is "unknown" — to our
   knowledge the choice of MOReL's reference code (max data disagreement / a pessimism coefficient
   of 1); the quantile and factor are config values.
3. **Pessimistic MDP** (:class:`PessimisticMDP`). Start states are the initial states (``t == 0``)
   of the trained-on agents' trajectories. Each step evaluates all members (USAD needs them) and
   moves every parallel episode with the prediction of one member drawn uniformly at random per
   episode and step (``member_choice="random"``, as MOReL's rollouts use sampled models; ``"mean"``
   uses the ensemble mean). If ``disc(s, a) > threshold`` the episode halts: reward ``-kappa``,
   terminated, ``halted=True``. Otherwise the known reward / termination
   (:func:`persim.planning.rewards.reward_fn`) apply; episodes are truncated at ``max_episode_steps``.

   *The halt penalty must exceed the return still to come, or halting is a reward, not a
   deterrent.* CartPole pays +1 per step, so halting always forfeits reward and kappa = 50 (paper)
   deters. MountainCar pays -1 per step: with the paper's kappa = 50 a policy that cannot reach the
   goal does better by halting at once (-50) than by driving 500 steps (-500). We therefore set
   kappa = 550 for MountainCar in :meth:`MorelConfig.for_env` (the paper's 50 plus the worst episode
   return, 500 x -1), so halting is worse than any complete episode; ``kappa=50`` reproduces the
   paper's value. HalfCheetah (kappa = 200, paper) can pay negative rewards (running backwards), so a
   bad policy may still prefer halting; its forward-running returns are far above -200.
4. **Policy learning**: our own batched PPO (:mod:`persim.baselines.ppo`) in the P-MDP with
   ``n_envs`` parallel model rollouts. MOReL used natural policy gradient (NPG / TRPO); we use PPO,
   a close relative that is simpler to batch. Observations are standardised with the data's
   statistics. The learned policy acts directly in the true env (no MPC), greedily (argmax / mean).

MOReL-P trains one policy on all agents' data; MOReL-A one per test agent on its single trajectory
(:func:`train`, through :mod:`persim.baselines.policy_set`).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from persim.baselines.policy_set import PolicySet, scoped_test_agents, train_policy_set
from persim.baselines.ppo import ActorCritic, PPOConfig, train_ppo
from persim.data.schema import N_ACTIONS, OfflineDataset
from persim.guards import check_loss, check_rate, check_weights, data_label
from persim.models.ensemble import EnsembleMLP
from persim.models.normalizer import Standardizer
from persim.planning.rewards import reward_fn
from persim.progress import Progress
from persim.seeding import derive_seed

LOG = logging.getLogger("persim")
# Cost model (persim.cost): the dynamics' gradient steps (set through the dyn_min_steps floor, one
# epoch, when calibrating; see work_units) and the PPO iterations, per policy
WORK_FIELDS = {"dyn_min_steps": "step", "iterations": "step"}
CALIBRATION_SETTINGS = {"dyn_epochs": 1}
Tensor = torch.Tensor
MIN_OBS_STD = 1e-3  # floor of the policy's observation std (single trajectories can be near constant)


# ----------------------------------------------------------------------------------------------
# configuration


@dataclass
class MorelConfig:
    """MOReL hyper-parameters (YAML keys); defaults = the paper's MountainCar / CartPole setting.

    Dynamics: ``n_members`` MLPs with ``dyn_hidden`` units, Adam (``dyn_lr``), minibatches of
    ``dyn_batch_size``; trained for ``dyn_epochs`` passes but at least ``dyn_min_steps`` gradient
    steps (a single trajectory of 200 transitions would otherwise get a few dozen steps).
    USAD: ``threshold_quantile`` in (0, 1], ``threshold_factor`` > 0 (module docstring).
    P-MDP: halt penalty ``kappa`` (> 0, paid as ``-kappa``), ``member_choice`` ``random``|``mean``,
    episode cap ``max_episode_steps``.
    PPO: ``n_envs`` parallel model rollouts of ``rollout_length`` steps per iteration,
    ``iterations``, ``ppo_epochs``, ``minibatch_size``, ``policy_lr``, ``clip``, ``gamma``,
    ``gae_lambda``, ``entropy_coef``, ``policy_hidden`` (see :class:`~persim.baselines.ppo.PPOConfig`).
    """

    n_members: int = 4
    dyn_hidden: list[int] = field(default_factory=lambda: [128, 128])
    dyn_epochs: int = 100
    dyn_min_steps: int = 2000
    dyn_batch_size: int = 256
    dyn_lr: float = 1e-3
    threshold_quantile: float = 1.0
    threshold_factor: float = 1.0
    kappa: float = 50.0
    member_choice: str = "random"
    max_episode_steps: int = 200
    n_envs: int = 64
    rollout_length: int = 256
    iterations: int = 100
    ppo_epochs: int = 10
    minibatch_size: int = 2048
    policy_lr: float = 3e-4
    clip: float = 0.2
    gamma: float = 0.99
    gae_lambda: float = 0.95
    entropy_coef: float = 0.01
    policy_hidden: list[int] = field(default_factory=lambda: [64, 64])

    def __post_init__(self) -> None:
        for key in ("n_members", "dyn_epochs", "dyn_batch_size", "max_episode_steps"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"morel.{key} must be >= 1, got {getattr(self, key)}")
        if self.n_members < 2:
            raise ValueError(f"morel.n_members must be >= 2 (USAD compares members), got {self.n_members}")
        if int(self.dyn_min_steps) < 0:
            raise ValueError(f"morel.dyn_min_steps must be >= 0, got {self.dyn_min_steps}")
        if not self.dyn_hidden or min(self.dyn_hidden) < 1:
            raise ValueError(f"morel.dyn_hidden must be a non-empty list of positive sizes, got {self.dyn_hidden}")
        if not 0.0 < self.threshold_quantile <= 1.0:
            raise ValueError(f"morel.threshold_quantile must be in (0, 1], got {self.threshold_quantile}")
        for key in ("threshold_factor", "kappa"):
            if not float(getattr(self, key)) > 0:
                raise ValueError(f"morel.{key} must be > 0, got {getattr(self, key)}")
        for key in ("dyn_lr", "policy_lr"):
            check_rate(f"morel.{key}", getattr(self, key))
        if self.member_choice not in ("random", "mean"):
            raise ValueError(f"morel.member_choice must be 'random' or 'mean', got {self.member_choice!r}")
        try:
            self.ppo()
        except ValueError as exc:
            raise ValueError(f"morel: {exc}") from None

    def ppo(self) -> PPOConfig:
        """The PPO settings as a :class:`PPOConfig`."""
        return PPOConfig(
            n_envs=self.n_envs, rollout_length=self.rollout_length, iterations=self.iterations,
            epochs=self.ppo_epochs, minibatch_size=self.minibatch_size, learning_rate=self.policy_lr,
            clip=self.clip, gamma=self.gamma, gae_lambda=self.gae_lambda, entropy_coef=self.entropy_coef,
            hidden=list(self.policy_hidden),
        )

    @classmethod
    def for_env(cls, env: str, **overrides: Any) -> "MorelConfig":
        """Per-env defaults (:data:`ENV_DEFAULTS`) updated with ``overrides``; unknown keys are errors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"morel: unknown config keys {unknown}; known: {sorted(known)}")
        if env in ENV_DEFAULTS:
            return cls(**{**ENV_DEFAULTS[env], **overrides})
        from persim.envs import SPECS
        if env not in SPECS:
            raise KeyError(f"morel: unknown env {env!r}; expected one of {list(SPECS)}")
        spec = SPECS[env]
        if not spec.discrete and (set(spec.action_low) != {-1.0} or set(spec.action_high) != {1.0}):
            raise ValueError(f"morel: its PPO policy acts in [-1, 1] per action coordinate; env {env!r} has "
                             f"bounds {list(spec.action_low)} .. {list(spec.action_high)}: rescale its actions to [-1, 1]")
        if "kappa" not in overrides:  # its halt penalty is in the units of your reward: no default fits
            raise ValueError(f"morel: env {env!r} is your own: set morel.kappa, the penalty of halting in an "
                             "unknown state (the paper: about the worst episode return's size)")
        return cls(**{"max_episode_steps": spec.max_episode_steps, **overrides})


ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    # paper App. E: 2 x 128 dynamics, kappa 50 (MC: +500, the worst episode return; module docstring)
    "mountaincar": {"dyn_hidden": [128, 128], "kappa": 550.0, "max_episode_steps": 500},
    "cartpole": {"dyn_hidden": [128, 128], "kappa": 50.0, "max_episode_steps": 200},
    # paper App. E: 2 x 1024 dynamics, kappa 200; larger minibatches (ours) for 500k transitions
    "halfcheetah": {"dyn_hidden": [1024, 1024], "kappa": 200.0, "max_episode_steps": 1000, "dyn_batch_size": 1024,
                    "policy_hidden": [256, 256], "entropy_coef": 0.0},
}


def for_env(env: str, **overrides: Any) -> MorelConfig:
    """Alias of :meth:`MorelConfig.for_env`."""
    return MorelConfig.for_env(env, **overrides)


# ----------------------------------------------------------------------------------------------
# dynamics ensemble + USAD


class MorelDynamics(nn.Module):
    """M-member dynamics ensemble with USAD; raw-unit states in, raw-unit next states out.

    Args:
        n_actions: number of discrete actions (inputs one-hot), or 0 for continuous actions of size
            ``action_dim`` (inputs raw, in [-1, 1]).
    Buffers: ``obs_norm``/``delta_norm`` statistics and the USAD ``threshold`` (standardised Δs units).
    """

    def __init__(self, obs_dim: int, n_actions: int, action_dim: int, n_members: int, hidden: Sequence[int]):
        super().__init__()
        self.obs_dim, self.n_actions, self.action_dim, self.n_members = obs_dim, n_actions, action_dim, n_members
        self.discrete = n_actions > 0
        self.net = EnsembleMLP(n_members, obs_dim + (n_actions or action_dim), obs_dim, tuple(hidden))
        self.obs_norm = Standardizer(obs_dim)
        self.delta_norm = Standardizer(obs_dim)
        self.register_buffer("threshold", torch.tensor(float("inf")))

    def features(self, states: Tensor, actions: Tensor) -> Tensor:
        """Network inputs ``[B, D + A']`` from raw states ``[B, D]`` and actions ``[B]`` int64 | ``[B, A]``."""
        a = F.one_hot(actions.long(), self.n_actions).to(states.dtype) if self.discrete else actions.to(states.dtype)
        return torch.cat([self.obs_norm(states), a], dim=-1)

    def forward(self, states: Tensor, actions: Tensor) -> Tensor:
        """Standardised Δs of every member ``[M, B, D]``."""
        x = self.features(states, actions)
        return self.net(x.expand(self.n_members, -1, -1))

    def to_next_states(self, states: Tensor, delta_n: Tensor) -> Tensor:
        """Raw next states ``[..., B, D]`` from standardised Δs ``[..., B, D]``."""
        return states + self.delta_norm.inverse(delta_n)

    @staticmethod
    def pairwise_disagreement(delta_n: Tensor) -> Tensor:
        """``max_{i<j} ||Δs_i - Δs_j||`` ``[B]`` from member predictions ``[M, B, D]``."""
        diff = delta_n.unsqueeze(0) - delta_n.unsqueeze(1)  # [M, M, B, D]
        return diff.square().sum(-1).amax(dim=(0, 1)).sqrt()

    @torch.no_grad()
    def disagreement(self, states: Tensor, actions: Tensor, chunk: int = 65536) -> Tensor:
        """USAD disagreement ``[B]`` (standardised Δs units), evaluated in chunks."""
        out = [self.pairwise_disagreement(self(s, a)) for s, a in zip(states.split(chunk), actions.split(chunk))]
        return torch.cat(out)

    def is_unknown(self, states: Tensor, actions: Tensor) -> Tensor:
        """USAD flag ``[B]`` bool: disagreement above the threshold."""
        return self.disagreement(states, actions) > self.threshold

    @torch.no_grad()
    def predict(self, states: Tensor, actions: Tensor) -> Tensor:
        """Ensemble-mean next states ``[B, D]`` (raw units)."""
        return self.to_next_states(states, self(states, actions).mean(0))


def _subset(ds: OfflineDataset, agent_ids: Sequence[int] | None) -> np.ndarray:
    """Row mask ``[T]`` of the transitions of ``agent_ids`` (all rows if None); errors on unknown ids."""
    if agent_ids is None:
        return np.ones(ds.n_transitions, dtype=bool)
    ids = np.asarray(list(agent_ids), dtype=np.int64)
    missing = sorted(set(ids.tolist()) - set(np.unique(ds.agent_ids).tolist()))
    if len(ids) == 0 or missing:
        raise ValueError(f"morel: agent ids {missing or '[]'} have no transitions in dataset {ds.path}")
    return np.isin(ds.agent_ids, ids)


def _action_sizes(ds: OfflineDataset) -> tuple[int, int]:
    """(n_actions, action_dim): one of them 0."""
    n_actions = N_ACTIONS[ds.env]
    return (n_actions, 0) if n_actions else (0, int(ds.actions.shape[1]))


def train_dynamics(ds: OfflineDataset, cfg: MorelConfig, seed: int, agent_ids: Sequence[int] | None = None,
                   device: str = "cpu", logger: logging.Logger | None = None) -> MorelDynamics:
    """Fit the ensemble on the transitions of ``agent_ids`` (all agents if None), then set the USAD threshold.

    Every member sees its own random order of the data; one batched forward/backward per minibatch.
    The per-epoch training MSE (standardised Δs, summed over D, mean over members) is kept in
    ``dynamics.history``.
    """
    mask = _subset(ds, agent_ids)
    n_actions, action_dim = _action_sizes(ds)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    obs = torch.as_tensor(ds.obs[mask], dtype=torch.float32, device=device)
    acts = torch.as_tensor(ds.actions[mask], device=device)
    delta = torch.as_tensor(ds.next_obs[mask] - ds.obs[mask], dtype=torch.float32, device=device)
    dyn = MorelDynamics(obs.shape[1], n_actions, action_dim, cfg.n_members, cfg.dyn_hidden).to(device)
    dyn.obs_norm.fit(obs)
    dyn.delta_norm.fit(delta)
    x, y = dyn.features(obs, acts), dyn.delta_norm(delta)
    n, m = len(x), cfg.n_members
    bsz = min(cfg.dyn_batch_size, n)
    per_epoch = n // bsz
    epochs = max(cfg.dyn_epochs, -(-cfg.dyn_min_steps // per_epoch))
    opt = torch.optim.Adam(dyn.parameters(), lr=cfg.dyn_lr)
    progress = Progress(epochs, f"morel dynamics M={m} epochs", every=max(1, epochs // 20), logger=logger)
    dyn.history = []
    what = f"MOReL dynamics on {data_label(ds)}"
    for epoch in range(1, epochs + 1):
        perms = torch.argsort(torch.rand(m, n, generator=gen), dim=1).to(device)  # [M, T]
        total = torch.zeros((), device=device)
        for start in range(0, n - bsz + 1, bsz):  # full minibatches only: [M, B] index
            idx = perms[:, start:start + bsz]
            loss = (dyn.net(x[idx]) - y[idx]).square().sum(-1).mean(-1).sum()  # members independent
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        dyn.history.append(total.item() / (m * (n // bsz)))
        check_loss(dyn.history[-1], what, epoch)
        progress.update(1, train_mse=dyn.history[-1])
    progress.close()
    check_weights(dyn.named_parameters(), what)
    dyn.eval()
    disc = dyn.disagreement(obs, acts)
    q = torch.quantile(disc.double().cpu(), cfg.threshold_quantile).item()
    dyn.threshold.fill_(cfg.threshold_factor * q)
    (logger or LOG).info("morel USAD: data disagreement median %.4g max %.4g -> threshold %.4g (%d transitions)",
                         disc.median().item(), disc.max().item(), dyn.threshold.item(), n)
    return dyn


# ----------------------------------------------------------------------------------------------
# batched MDPs


class BatchedMDP:
    """N parallel episodes as tensors (the :class:`persim.baselines.ppo.BatchedEnv` protocol).

    ``reset() -> obs [N, D]``; ``step(actions [N] int64 | [N, A]) -> (obs, reward [N], terminated [N],
    truncated [N], halted [N])``. With ``autoreset`` (default) a finished episode restarts in the same
    step from a start state drawn uniformly from ``start_states [K, D]``; its last state is in
    ``final_obs [N, D]``. Subclasses implement :meth:`transition`.
    """

    def __init__(self, start_states: Tensor, n_envs: int, max_episode_steps: int, n_actions: int,
                 action_dim: int, seed: int, device: str = "cpu", autoreset: bool = True):
        if start_states.dim() != 2 or len(start_states) == 0:
            raise ValueError(f"start_states must be a non-empty [K, D] tensor, got shape {tuple(start_states.shape)}")
        if n_envs < 1 or max_episode_steps < 1:
            raise ValueError(f"n_envs and max_episode_steps must be >= 1, got {n_envs}, {max_episode_steps}")
        self.start_states = start_states.to(device=device, dtype=torch.float32)
        self.n_envs, self.obs_dim = n_envs, start_states.shape[1]
        self.n_actions, self.action_dim = n_actions, action_dim
        self.max_episode_steps, self.autoreset, self.device = max_episode_steps, autoreset, device
        self.seed(seed)
        self.state = self._draw_starts()
        self.final_obs = self.state
        self.t = torch.zeros(n_envs, dtype=torch.int64, device=device)

    def seed(self, seed: int) -> None:
        """Reset the generator of start states (and of the model member choice)."""
        self.gen = torch.Generator(device=self.device).manual_seed(int(seed))

    def _draw_starts(self) -> Tensor:
        idx = torch.randint(len(self.start_states), (self.n_envs,), generator=self.gen, device=self.device)
        return self.start_states[idx]

    def reset(self, states: Tensor | None = None) -> Tensor:
        """Start all N episodes, from ``states [N, D]`` if given (e.g. to probe the model), else drawn."""
        if states is not None and tuple(states.shape) != (self.n_envs, self.obs_dim):
            raise ValueError(f"reset states must be [{self.n_envs}, {self.obs_dim}], got {tuple(states.shape)}")
        self.state = self._draw_starts() if states is None else states.to(self.device, torch.float32)
        self.final_obs = self.state
        self.t.zero_()
        return self.state

    def _check_actions(self, actions: Tensor) -> Tensor:
        want = (self.n_envs,) if self.n_actions else (self.n_envs, self.action_dim)
        if tuple(actions.shape) != want:
            raise ValueError(f"actions must have shape {want}, got {tuple(actions.shape)}")
        return actions.to(self.device).long() if self.n_actions else actions.to(self.device, torch.float32).clamp(-1, 1)

    def transition(self, states: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(next_states [N, D], reward [N], terminated [N], halted [N])``."""
        raise NotImplementedError

    @torch.no_grad()
    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        nxt, reward, term, halted = self.transition(self.state, self._check_actions(actions))
        self.t += 1
        trunc = (self.t >= self.max_episode_steps) & ~term
        done = term | trunc
        self.final_obs = nxt
        if self.autoreset:
            nxt = torch.where(done.unsqueeze(-1), self._draw_starts(), nxt)
            self.t = torch.where(done, torch.zeros_like(self.t), self.t)
        self.state = nxt
        return nxt, reward, term, trunc, halted


class PessimisticMDP(BatchedMDP):
    """MOReL's P-MDP on a :class:`MorelDynamics` ensemble (module docstring, point 3).

    Args:
        dynamics: the trained ensemble (its ``threshold`` is the USAD threshold).
        start_states: ``[K, D]`` initial states of the offline trajectories.
        env: env name for the known reward / termination.
        kappa: halt penalty (reward ``-kappa`` on the halting step).
        member_choice: ``random`` (one member per episode and step) or ``mean``.
    """

    def __init__(self, dynamics: MorelDynamics, start_states: Tensor, env: str, kappa: float, n_envs: int,
                 max_episode_steps: int, seed: int, member_choice: str = "random", device: str = "cpu",
                 autoreset: bool = True):
        if member_choice not in ("random", "mean"):
            raise ValueError(f"member_choice must be 'random' or 'mean', got {member_choice!r}")
        super().__init__(start_states, n_envs, max_episode_steps, dynamics.n_actions, dynamics.action_dim,
                         seed, device, autoreset)
        self.dynamics, self.kappa, self.member_choice = dynamics.to(device).eval(), float(kappa), member_choice
        self.reward_fn = reward_fn(env)
        self._rows = torch.arange(n_envs, device=device)

    def transition(self, states, actions):
        delta_n = self.dynamics(states, actions)  # [M, N, D]
        halted = self.dynamics.pairwise_disagreement(delta_n) > self.dynamics.threshold
        if self.member_choice == "mean":
            chosen = delta_n.mean(0)
        else:
            member = torch.randint(self.dynamics.n_members, (self.n_envs,), generator=self.gen, device=self.device)
            chosen = delta_n[member, self._rows]
        nxt = self.dynamics.to_next_states(states, chosen)
        reward, term = self.reward_fn(states, actions, nxt)
        reward = torch.where(halted, torch.full_like(reward, -self.kappa), reward.to(torch.float32))
        return nxt, reward, term | halted, halted


def initial_states(ds: OfflineDataset, agent_ids: Sequence[int] | None = None) -> Tensor:
    """``[K, D]`` first observations (``t == 0``) of the trajectories of ``agent_ids`` (all if None)."""
    rows = _subset(ds, agent_ids) & (ds.t == 0)
    if not rows.any():
        raise ValueError(f"morel: no initial states (t == 0) for agents {agent_ids} in {ds.path}")
    return torch.as_tensor(ds.obs[rows], dtype=torch.float32)


class MorelVectorEnv(gym.vector.VectorEnv):
    """A :class:`BatchedMDP` as a gymnasium ``VectorEnv`` (numpy in/out) for other learners.

    Autoreset is *same-step* (as in gymnasium 0.29): the observation of a finished env is its new
    start state; ``infos["final_obs"] [N, D]`` (valid where ``infos["_final_obs"]``) holds the last
    state and ``infos["halted"] [N]`` the USAD halts.
    """

    metadata = {"autoreset_mode": "same-step"}

    def __init__(self, mdp: BatchedMDP):
        if not mdp.autoreset:
            raise ValueError("MorelVectorEnv needs an MDP with autoreset=True")
        self.mdp, self.num_envs = mdp, mdp.n_envs
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (mdp.obs_dim,), np.float32)
        self.single_action_space = (gym.spaces.Discrete(mdp.n_actions) if mdp.n_actions
                                    else gym.spaces.Box(-1.0, 1.0, (mdp.action_dim,), np.float32))
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.mdp.seed(seed)
        return self.mdp.reset().cpu().numpy(), {}

    def step(self, actions):
        obs, reward, term, trunc, halted = self.mdp.step(torch.as_tensor(np.asarray(actions), device=self.mdp.device))
        done = (term | trunc).cpu().numpy()
        infos = {"final_obs": self.mdp.final_obs.cpu().numpy(), "_final_obs": done,
                 "halted": halted.cpu().numpy(), "_halted": np.ones(self.num_envs, dtype=bool)}
        return obs.cpu().numpy(), reward.cpu().numpy(), term.cpu().numpy(), trunc.cpu().numpy(), infos


def build_pessimistic_mdp(dynamics: MorelDynamics, ds: OfflineDataset, cfg: MorelConfig, seed: int,
                          agent_ids: Sequence[int] | None = None, device: str = "cpu") -> PessimisticMDP:
    """The P-MDP of ``cfg`` with the dataset's initial states of ``agent_ids`` as start states."""
    return PessimisticMDP(dynamics, initial_states(ds, agent_ids), ds.env, cfg.kappa, cfg.n_envs,
                          cfg.max_episode_steps, seed, cfg.member_choice, device)


# ----------------------------------------------------------------------------------------------
# policies


class MorelPolicy:
    """A trained MOReL policy: ``act(obs [B, D]) -> actions [B] int64 | [B, A] float32`` (greedy)."""

    def __init__(self, ac: ActorCritic, meta: dict[str, Any] | None = None):
        self.ac, self.meta = ac.eval(), dict(meta or {})

    @property
    def device(self) -> torch.device:
        return self.ac.obs_norm.mean.device

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        x = torch.tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        if x.dim() != 2 or x.shape[1] != self.ac.obs_dim:
            raise ValueError(f"obs must be [B, {self.ac.obs_dim}], got {tuple(x.shape)}")
        a = self.ac.greedy(x).cpu().numpy()
        return a.astype(np.int64) if self.ac.discrete else a.astype(np.float32)

    __call__ = act

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the policy (plain tensors and Python values)."""
        ac = self.ac
        arch = {"obs_dim": ac.obs_dim, "n_actions": ac.n_actions, "action_dim": ac.action_dim,
                "hidden": [m.out_features for m in ac.actor if isinstance(m, nn.Linear)][:-1]}
        return {"arch": arch, "meta": self.meta, "state_dict": {k: v.cpu() for k, v in ac.state_dict().items()}}

    @classmethod
    def from_state(cls, blob: dict[str, Any], device: str = "cpu") -> "MorelPolicy":
        ac = ActorCritic(**blob["arch"]).to(device)
        ac.load_state_dict(blob["state_dict"])
        return cls(ac, blob["meta"])

    def save(self, path: str | Path) -> None:
        torch.save(self.state(), str(path))

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "MorelPolicy":
        return cls.from_state(_load_blob(path, device), device)


def _load_blob(path: str | Path, device: str) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MOReL policy file not found: {path}")
    return torch.load(str(path), map_location=device, weights_only=False)


def train_morel(ds: OfflineDataset, cfg: MorelConfig, seed: int, agent_ids: Sequence[int] | None = None,
                device: str = "cpu", logger: logging.Logger | None = None) -> MorelPolicy:
    """MOReL on the transitions of ``agent_ids`` (all agents if None): dynamics, P-MDP, PPO.

    The policy's ``meta`` holds the PPO history (``mean_return`` in the P-MDP, ``halt_rate``), the USAD
    threshold and the seeds.
    """
    log = logger or LOG
    dyn = train_dynamics(ds, cfg, derive_seed(seed, "morel", "dynamics"), agent_ids, device, logger)
    mask = _subset(ds, agent_ids)
    mdp = build_pessimistic_mdp(dyn, ds, cfg, derive_seed(seed, "morel", "mdp"), agent_ids, device)
    obs = ds.obs[mask]
    mean, std = obs.mean(0), np.maximum(obs.std(0), MIN_OBS_STD)
    label = f"morel {ds.env} ppo ({'all agents' if agent_ids is None else f'agents {list(agent_ids)}'})"
    ac, hist = train_ppo(mdp, cfg.ppo(), derive_seed(seed, "morel", "ppo"), mean, std, device, logger, label)
    log.info("%s: last P-MDP mean return %.4g, halt rate %.3g", label, hist["mean_return"][-1], hist["halt_rate"][-1])
    meta = {"env": ds.env, "seed": seed, "agent_ids": None if agent_ids is None else [int(a) for a in agent_ids],
            "n_transitions": int(mask.sum()), "usad_threshold": float(dyn.threshold), "history": hist}
    return MorelPolicy(ac, meta)


# ----------------------------------------------------------------------------------------------
# the method protocol (persim.protocols): config, train, load


def work_units(cfg: MorelConfig, n_trajectories: int, length: float, scope: str = "p", **_: Any) -> dict[str, float]:
    """Units of :data:`WORK_FIELDS` one training does (:mod:`persim.cost`), per policy: the dynamics'
    gradient steps (``dyn_epochs`` full minibatches over the policy's data, or the ``dyn_min_steps``
    floor if more; MOReL-A's data is one trajectory of ``length`` rows) and the PPO iterations."""
    rows = max(1, int(length * (n_trajectories if scope == "p" else 1)))
    per_epoch = rows // min(cfg.dyn_batch_size, rows)
    return {"dyn_min_steps": float(max(cfg.dyn_epochs * per_epoch, cfg.dyn_min_steps)),
            "iterations": float(cfg.iterations)}


def make_config(settings: dict[str, Any], env: str, key: str, episode_steps: int, **_: Any) -> MorelConfig:
    """Paper defaults for ``env`` updated with ``settings``; model episodes as long as the env's
    (``episode_steps``) unless set. ConfigError names ``key.<field>``."""
    from persim.config import build_dataclass

    return build_dataclass(for_env, {"max_episode_steps": episode_steps, **settings}, key, MorelConfig, env=env)


def train(ds: OfflineDataset, agents: pd.DataFrame, cfg: MorelConfig, seed: int, device: str = "cpu",
          log: logging.Logger | None = None, scope: str = "p", **_: Any) -> tuple[PolicySet, None]:
    """MOReL-P (``scope="p"``: one policy, key ``"all"``, on all agents' data) or MOReL-A (``scope="a"``:
    one policy per test agent on its own trajectory). Seeds: ``derive_seed(seed, "morel", key)``."""
    test_ids = scoped_test_agents(agents, scope)

    def train_one(agent_ids, policy_seed):
        return train_morel(ds, cfg, policy_seed, agent_ids, device, log)

    meta = {"method": f"morel_{scope}", "env": ds.env, "config": asdict(cfg), "dataset": ds.path,
            "dataset_meta": ds.meta}
    return train_policy_set(train_one, scope, test_ids, seed, "morel", meta), None


def load(path: str | Path, device: str = "cpu") -> PolicySet:
    return PolicySet.load(path, MorelPolicy, device)
