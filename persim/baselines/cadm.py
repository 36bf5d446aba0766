"""CaDM: the context-aware dynamics model of Lee et al. (2020), trained offline (paper App. E).

A context encoder g turns the agent's last K transitions (normalised state changes s'-s and
one-hot or standardised actions, zero-padded at the episode start, plus a validity bit per slot)
into a context vector c. A forward model f predicts the normalised change Δs of the next state
from [normalised s, action features, c]; a deterministic backward model b predicts the normalised
change s - s' from [normalised s', action features, c]. Both share c, so the backward loss also
shapes the context. Training (CaDM's multi-step scheme): the context computed at time t (from
t-K..t-1) is used for the next H teacher-forced one-step predictions t..t+H-1; targets past the
end of the trajectory are masked. Loss per member:

    forward (MSE, or Gaussian NLL with soft-bounded log-variance) + λ_b · backward MSE
    + Σ_layers wd_l · ½‖W_l‖²  (+ 0.01 · (Σ max_logvar − Σ min_logvar) if probabilistic)

Variants: *Vanilla* CaDM is one deterministic model; *PE-TS* CaDM is an ensemble of M = 5
probabilistic members (stacked weights, independent initialisations, own bootstrap of the
training windows each) used with P = 20 particles, particle p fixed to member p // (P / M)
(TS-∞). Agent identity is never an input: CaDM infers it from the context.

Deviations from the authors' TensorFlow code (kept deliberately, see the report of this module):
one context encoder shared by all members (the reference gives each member its own encoder) so
that the context is one ``[B, c]`` tensor; history state changes are standardised (the reference
feeds them raw); the validity bit of each history slot is an encoder input; early stopping uses
a patience on the validation loss and restores the best weights (the reference stops when a
rolling average rises).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from persim.data.schema import N_ACTIONS, OfflineDataset
from persim.guards import check_loss, check_output, check_rate, check_weights, data_label
from persim.device import resolve_device
from persim.models.ensemble import EnsembleLinear
from persim.models.normalizer import Standardizer
from persim.progress import Progress

LOG = logging.getLogger("persim")
# Cost model (persim.cost): work grows with epochs over the data; the calibration turns early stopping off
WORK_FIELDS = {"epochs": "pass"}
CALIBRATION_SETTINGS = {"patience": 10 ** 6}

# Per-layer L2 coefficients of the reference run script (4 x 200 swish + output; context 3 hidden).
REFERENCE_WEIGHT_DECAY = (0.000025, 0.00005, 0.000075, 0.000075, 0.0001)
REFERENCE_CONTEXT_WEIGHT_DECAY = (0.000025, 0.00005, 0.000075)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
@dataclass
class CaDMConfig:
    """Hyper-parameters; defaults are Vanilla CaDM with the paper's / reference code's values.

    ``weight_decay`` holds one L2 coefficient per layer of the forward/backward models
    (``len(hidden) + 1``) or a single value for all; ``context_weight_decay`` one per hidden layer
    of the context encoder (the output layer is not decayed) or a single value. Use
    :meth:`for_variant` for the PE-TS defaults (probabilistic, 5 members, 20 particles).
    """

    probabilistic: bool = False
    n_members: int = 1
    n_particles: int = 1
    context_length: int = 10                       # K
    context_dim: int = 10
    context_hidden: tuple[int, ...] = (256, 128, 64)
    hidden: tuple[int, ...] = (200, 200, 200, 200)
    future_length: int = 10                        # H
    backward_weight: float = 0.5
    weight_decay: tuple[float, ...] = REFERENCE_WEIGHT_DECAY
    context_weight_decay: tuple[float, ...] = REFERENCE_CONTEXT_WEIGHT_DECAY
    learning_rate: float = 1e-3
    epochs: int = 200
    batch_size: int = 256                          # context windows per minibatch (each up to H targets)
    val_fraction: float = 0.1
    patience: int = 10
    bootstrap: bool = True                         # ensemble members train on bootstrap resamples
    min_logvar_init: float = -10.0
    max_logvar_init: float = 0.5
    logvar_bound_weight: float = 0.01

    @classmethod
    def for_variant(cls, variant: str, **overrides: Any) -> "CaDMConfig":
        """``"vanilla"`` (1 deterministic model) or ``"pets"`` (5 probabilistic members, 20 particles)."""
        base = {"vanilla": {}, "pets": {"probabilistic": True, "n_members": 5, "n_particles": 20}}
        if variant not in base:
            raise ValueError(f"cadm variant must be 'vanilla' or 'pets', got {variant!r}")
        return cls(**{**base[variant], **overrides})

    def __post_init__(self) -> None:
        self.hidden = _int_tuple("hidden", self.hidden, allow_empty=False)
        self.context_hidden = _int_tuple("context_hidden", self.context_hidden, allow_empty=True)
        self.weight_decay = _decays("weight_decay", self.weight_decay, len(self.hidden) + 1)
        self.context_weight_decay = _decays("context_weight_decay", self.context_weight_decay, len(self.context_hidden))
        for key in ("n_members", "n_particles", "context_length", "context_dim", "future_length", "epochs",
                    "batch_size", "patience"):
            value = getattr(self, key)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"cadm.{key} must be an integer >= 1, got {value!r}")
            setattr(self, key, int(value))
        if self.n_particles % self.n_members:
            raise ValueError(f"cadm.n_particles ({self.n_particles}) must be a multiple of cadm.n_members "
                             f"({self.n_members}): particle p is assigned to member p // (P / M)")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"cadm.val_fraction must be in [0, 1), got {self.val_fraction}")
        check_rate("cadm.learning_rate", self.learning_rate)
        for key in ("backward_weight", "logvar_bound_weight"):
            if not getattr(self, key) >= 0:
                raise ValueError(f"cadm.{key} must be >= 0, got {getattr(self, key)}")
        if not self.min_logvar_init < self.max_logvar_init:
            raise ValueError(f"cadm.min_logvar_init ({self.min_logvar_init}) must be < cadm.max_logvar_init "
                             f"({self.max_logvar_init})")

    def to_dict(self) -> dict[str, Any]:
        """Plain (YAML/JSON friendly) dict: tuples become lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _int_tuple(key: str, value, allow_empty: bool) -> tuple[int, ...]:
    sizes = (value,) if isinstance(value, int) else tuple(value)
    if (not sizes and not allow_empty) or any(isinstance(s, bool) or int(s) != s or s < 1 for s in sizes):
        raise ValueError(f"cadm.{key} must be a {'possibly empty ' if allow_empty else 'non-empty '}list of "
                         f"positive layer widths, got {value!r}")
    return tuple(int(s) for s in sizes)


def _decays(key: str, value, n_layers: int) -> tuple[float, ...]:
    decays = (float(value),) if isinstance(value, (int, float)) else tuple(float(v) for v in value)
    if len(decays) == 1 and n_layers != 1:
        decays = decays * n_layers
    if len(decays) != n_layers or any(not d >= 0 for d in decays):
        raise ValueError(f"cadm.{key} needs one non-negative L2 coefficient per layer ({n_layers}) or a "
                         f"single value, got {value!r}")
    return decays


# --------------------------------------------------------------------------------------------
# History windows (index arithmetic over the flat dataset)
# --------------------------------------------------------------------------------------------
def trajectory_bounds(agent_ids: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last row index ``[T]`` of each row's trajectory.

    A trajectory is a run of rows with one agent id and consecutive ``t`` (rows ordered by agent
    then t, as in :class:`OfflineDataset`).
    """
    n = len(t)
    rows = np.arange(n)
    new = np.ones(n, dtype=bool)
    new[1:] = (agent_ids[1:] != agent_ids[:-1]) | (t[1:] != t[:-1] + 1)
    start = np.maximum.accumulate(np.where(new, rows, 0))
    last = np.ones(n, dtype=bool)
    last[:-1] = new[1:]
    end = np.minimum.accumulate(np.where(last, rows, n - 1)[::-1])[::-1]
    return start.astype(np.int64), end.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------
class EnsembleSwishMLP(nn.Module):
    """M MLPs with swish (SiLU) hidden layers as stacked weights: ``[M, N, in] -> [M, N, out]``."""

    def __init__(self, n_members: int, in_features: int, out_features: int, hidden: tuple[int, ...]):
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(EnsembleLinear(n_members, a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = F.silu(layer(x))
        return self.layers[-1](x)

    def l2(self, decays: tuple[float, ...]) -> torch.Tensor:
        """Σ_l decay_l · ½‖W_l‖² over layers (all members); biases are not decayed."""
        return sum(d * 0.5 * layer.weight.square().sum() for d, layer in zip(decays, self.layers))


class CaDMNet(nn.Module):
    """Context encoder + M-member forward model + M-member backward model (standardised units).

    Args:
        obs_dim: D.
        n_actions: number of discrete actions (one-hot features), or 0 for continuous actions of
            size ``action_dim`` (standardised features).
    """

    def __init__(self, obs_dim: int, n_actions: int, action_dim: int, cfg: CaDMConfig):
        super().__init__()
        self.cfg = cfg
        self.obs_dim, self.n_actions, self.action_dim = obs_dim, n_actions, action_dim
        self.discrete = n_actions > 0
        self.act_features = n_actions if self.discrete else action_dim
        m, d, c = cfg.n_members, obs_dim, cfg.context_dim
        hist_in = cfg.context_length * (d + self.act_features + 1)  # Δs, action, validity bit per slot
        sizes = [hist_in, *cfg.context_hidden]
        enc: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            enc += [nn.Linear(a, b), nn.ReLU()]
        enc.append(nn.Linear(sizes[-1], c))
        self.context_encoder = nn.Sequential(*enc)
        model_in = d + self.act_features + c
        self.forward_model = EnsembleSwishMLP(m, model_in, 2 * d if cfg.probabilistic else d, cfg.hidden)
        self.backward_model = EnsembleSwishMLP(m, model_in, d, cfg.hidden)
        if cfg.probabilistic:
            self.max_logvar = nn.Parameter(torch.full((m, 1, d), float(cfg.max_logvar_init)))
            self.min_logvar = nn.Parameter(torch.full((m, 1, d), float(cfg.min_logvar_init)))
        self.obs_norm = Standardizer(d)
        self.delta_norm = Standardizer(d)       # s' - s
        self.back_norm = Standardizer(d)        # s - s'
        self.act_norm = Standardizer(max(action_dim, 1))

    # ---- features -----------------------------------------------------------------------
    def action_features(self, actions: torch.Tensor) -> torch.Tensor:
        """One-hot ``[..., n_actions]`` for int actions ``[...]``; standardised ``[..., A]`` otherwise."""
        if self.discrete:
            return F.one_hot(actions.long().clamp(0, self.n_actions - 1), self.n_actions).float()
        return self.act_norm(actions.float())

    def encode(self, delta_n: torch.Tensor, act_f: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Context ``[..., c]`` from normalised Δs ``[..., K, D]``, action features ``[..., K, A']``
        and validity ``[..., K]`` (invalid slots are zeroed, whatever they hold)."""
        x = torch.cat([delta_n, act_f], dim=-1)
        x = torch.where(mask.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))
        x = torch.cat([x, mask.unsqueeze(-1).to(x.dtype)], dim=-1)
        return self.context_encoder(x.flatten(-2))

    # ---- models ---------------------------------------------------------------------------
    def dynamics(self, obs_n: torch.Tensor, act_f: torch.Tensor, ctx: torch.Tensor):
        """Forward model on ``[M, N, *]`` inputs -> (mean ``[M, N, D]``, bounded log-variance or None)."""
        out = self.forward_model(torch.cat([obs_n, act_f, ctx], dim=-1))
        if not self.cfg.probabilistic:
            return out, None
        mu, raw = out.chunk(2, dim=-1)
        logvar = self.max_logvar - F.softplus(self.max_logvar - raw)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return mu, logvar

    def backward_dynamics(self, next_obs_n: torch.Tensor, act_f: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """Backward model: normalised s - s' ``[M, N, D]`` from ``[M, N, *]`` inputs."""
        return self.backward_model(torch.cat([next_obs_n, act_f, ctx], dim=-1))

    def regulariser(self) -> torch.Tensor:
        """L2 weight decay of all three networks plus the log-variance bound penalty."""
        cfg = self.cfg
        reg = self.forward_model.l2(cfg.weight_decay) + self.backward_model.l2(cfg.weight_decay)
        linears = [mod for mod in self.context_encoder if isinstance(mod, nn.Linear)]
        reg = reg + sum(d * 0.5 * lin.weight.square().sum() for d, lin in zip(cfg.context_weight_decay, linears))
        if cfg.probabilistic:
            reg = reg + cfg.logvar_bound_weight * (self.max_logvar.sum() - self.min_logvar.sum())
        return reg


# --------------------------------------------------------------------------------------------
# Simulator
# --------------------------------------------------------------------------------------------
class CaDMSimulator:
    """A trained CaDM behind the :class:`~persim.protocols.Simulator` protocol (context-conditioned;
    raw units in and out; agent ids are ignored: the context of the last K transitions tells agents apart).

    ``encode_context`` turns the last K transitions into a context ``[B, c]``; ``planning_step``
    and ``predict`` then roll the model forward with that context held fixed.
    """

    def __init__(self, net: CaDMNet, cfg: CaDMConfig, meta: dict[str, Any]):
        self.net, self.cfg, self.meta = net.eval(), cfg, meta
        self.context_length = cfg.context_length
        self.n_members = cfg.n_members
        self.planning_members = cfg.n_particles  # PE-TS: particles, each driven by one member

    @property
    def device(self) -> torch.device:
        return self.net.obs_norm.mean.device

    def _float(self, x) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32, device=self.device)

    def _actions(self, x) -> torch.Tensor:
        x = torch.as_tensor(x, device=self.device)
        return x.long() if self.net.discrete else x.float()

    @torch.no_grad()
    def encode_context(self, hist_obs, hist_actions, hist_next_obs, mask) -> torch.Tensor:
        """Context ``[B, c]`` from the last K transitions (raw units; slot K-1 = most recent).

        hist_obs, hist_next_obs: ``[B, K, D]``; hist_actions: ``[B, K]`` int64 or ``[B, K, A]``;
        mask: ``[B, K]`` bool, True = real transition (other slots may hold anything).
        """
        obs, nxt, mask = self._float(hist_obs), self._float(hist_next_obs), torch.as_tensor(mask, device=self.device)
        acts = self._actions(hist_actions)
        k, d = self.context_length, self.net.obs_dim
        if obs.dim() != 3 or obs.shape[1:] != (k, d) or nxt.shape != obs.shape:
            raise ValueError(f"CaDM history states must be [B, K={k}, D={d}], got {tuple(obs.shape)} and "
                             f"{tuple(nxt.shape)}")
        if mask.shape != obs.shape[:2] or acts.shape[:2] != obs.shape[:2]:
            raise ValueError(f"CaDM history mask/actions must start with [B, K] = {tuple(obs.shape[:2])}, got "
                             f"{tuple(mask.shape)} / {tuple(acts.shape)}")
        delta = torch.where(mask.bool().unsqueeze(-1), nxt - obs, torch.zeros((), device=self.device))
        return self.net.encode(self.net.delta_norm(delta), self.net.action_features(acts), mask.bool())

    def _context(self, context) -> torch.Tensor:
        if context is None:
            raise ValueError(f"CaDM needs the context of the last {self.context_length} transitions "
                             "(encode_context); got None")
        return self._float(context)

    @torch.no_grad()
    def member_distributions(self, states, actions, context) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every member's Gaussian over the next state: mean ``[M, B, D]`` and std ``[M, B, D]``
        (None for deterministic models), raw units, from states ``[B, D]``."""
        states, ctx = self._float(states), self._context(context)
        m = self.cfg.n_members
        acts = self.net.action_features(self._actions(actions))
        mu, logvar = self.net.dynamics(self.net.obs_norm(states).expand(m, -1, -1), acts.expand(m, -1, -1),
                                       ctx.expand(m, -1, -1))
        mean = check_output(states + self.net.delta_norm.inverse(mu), "CaDM predictions")
        std = None if logvar is None else torch.exp(0.5 * logvar) * self.net.delta_norm.std
        return mean, std

    def member_predictions(self, agents, states, actions, context=None) -> torch.Tensor:
        """Each member's mean next state ``[M, B, D]``; ``agents`` is ignored (the context tells)."""
        return self.member_distributions(states, actions, context)[0]

    def predict(self, agents, states, actions, context=None) -> torch.Tensor:
        """Mean next state ``[B, D]`` (PE-TS: average of the members' means); ``agents`` is ignored."""
        return self.member_predictions(agents, states, actions, context).mean(0)

    def planning_step(self, agents, n_rows: int, context=None, generator: torch.Generator | None = None):
        """MPC step over episode-major rows (see :class:`~persim.protocols.Simulator`): each episode's
        context ``[E, c]`` is repeated over its ``n_rows`` rows and the particles advance with
        :meth:`step_particles`."""
        ctx = self._context(context).repeat_interleave(n_rows, dim=0)  # [E*n_rows, c], episode-major
        return lambda states, actions: self.step_particles(states, actions, ctx, generator=generator)

    @torch.no_grad()
    def step_particles(self, states, actions, context, generator: torch.Generator | None = None) -> torch.Tensor:
        """Advance P particles one step: next states ``[P, B, D]`` (raw units).

        states: ``[P, B, D]`` or ``[B, D]`` (copied to all P = ``n_particles``); actions ``[B]``/``[B, A]``
        or with a leading P; context ``[B, c]`` (or ``[P, B, c]``). Particle p is driven by member
        p // (P / M) throughout (TS-∞); probabilistic members sample from their Gaussian with
        ``generator`` (any device), deterministic ones return their mean.
        """
        states, ctx = self._float(states), self._context(context)
        m = self.cfg.n_members
        if states.dim() == 2:
            states = states.expand(self.planning_members, -1, -1)
        p, b, d = states.shape
        if p % m:
            raise ValueError(f"CaDM step_particles: P={p} particles is not a multiple of the {m} members")
        acts = self._actions(actions)
        act_f = self.net.action_features(acts)
        act_f = act_f.expand(p, *act_f.shape[-2:]) if act_f.dim() == 2 else act_f
        ctx = ctx.expand(p, *ctx.shape[-2:]) if ctx.dim() == 2 else ctx
        per = p // m
        flat = lambda x: x.reshape(m, per * b, x.shape[-1])  # noqa: E731 - particle p = member p // per
        mu, logvar = self.net.dynamics(flat(self.net.obs_norm(states)), flat(act_f), flat(ctx))
        if logvar is not None:
            gen_device = generator.device if generator is not None else self.device
            eps = torch.randn(mu.shape, generator=generator, device=gen_device).to(self.device)
            mu = mu + torch.exp(0.5 * logvar) * eps
        return states + self.net.delta_norm.inverse(mu.reshape(p, b, d))

    def save(self, path: str | Path) -> None:
        torch.save({"config": self.cfg.to_dict(), "meta": self.meta, "state_dict": self.net.state_dict()}, str(path))

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "CaDMSimulator":
        blob = torch.load(str(path), map_location=device, weights_only=False)
        cfg, meta = CaDMConfig(**blob["config"]), blob["meta"]
        net = CaDMNet(meta["obs_dim"], meta["n_actions"], meta["action_dim"], cfg).to(device)
        net.load_state_dict(blob["state_dict"])
        return cls(net, cfg, meta)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------
@dataclass
class _Data:
    """Per-transition tensors on the training device (T rows)."""

    obs_n: torch.Tensor      # [T, D] standardised s
    next_n: torch.Tensor     # [T, D] standardised s'
    act_f: torch.Tensor      # [T, A'] action features
    delta_n: torch.Tensor    # [T, D] standardised s' - s (forward target and history feature)
    back_n: torch.Tensor     # [T, D] standardised s - s' (backward target)
    start: torch.Tensor      # [T] first row of the trajectory
    end: torch.Tensor        # [T] last row of the trajectory
    hist_offsets: torch.Tensor  # [K] = -K..-1
    fut_offsets: torch.Tensor   # [H] = 0..H-1


def _prepare(ds: OfflineDataset, net: CaDMNet, train_rows: torch.Tensor, cfg: CaDMConfig, device: str) -> _Data:
    """Fit the standardisers on the training rows and build the per-transition tensors."""
    obs = torch.as_tensor(ds.obs, dtype=torch.float32, device=device)
    nxt = torch.as_tensor(ds.next_obs, dtype=torch.float32, device=device)
    acts = torch.as_tensor(ds.actions, device=device)
    net.obs_norm.fit(obs[train_rows])
    net.delta_norm.fit((nxt - obs)[train_rows])
    net.back_norm.fit((obs - nxt)[train_rows])
    if not net.discrete:
        net.act_norm.fit(acts.float()[train_rows])
    start, end = trajectory_bounds(ds.agent_ids, ds.t)
    return _Data(
        obs_n=net.obs_norm(obs), next_n=net.obs_norm(nxt), act_f=net.action_features(acts),
        delta_n=net.delta_norm(nxt - obs), back_n=net.back_norm(obs - nxt),
        start=torch.as_tensor(start, device=device), end=torch.as_tensor(end, device=device),
        hist_offsets=torch.arange(-cfg.context_length, 0, device=device),
        fut_offsets=torch.arange(cfg.future_length, device=device),
    )


def window_rows(data: _Data, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row ids of the windows around ``anchors [...]``: the K rows before each anchor ``[..., K]``
    (clamped at row 0) and their mask (False before the anchor's trajectory start: padding), then the H
    rows from the anchor on ``[..., H]`` (clamped at the last row) and theirs (False past the trajectory's
    end). Reads only ``data.start``, ``data.end`` and the offsets."""
    hist = anchors.unsqueeze(-1) + data.hist_offsets
    hmask = hist >= data.start[anchors].unsqueeze(-1)
    fut = anchors.unsqueeze(-1) + data.fut_offsets
    fmask = fut <= data.end[anchors].unsqueeze(-1)
    return hist.clamp_min(0), hmask, fut.clamp_max(len(data.start) - 1), fmask


def _window_losses(net: CaDMNet, data: _Data, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-member losses of windows ``anchors [M, B]`` (row ids): context from the K rows before
    each anchor, H teacher-forced targets from the anchor on.

    Returns (forward loss ``[M]`` (MSE or NLL), backward MSE ``[M]``, forward MSE ``[M]``), each a
    mean over the valid targets and the D coordinates (standardised units).
    """
    m, b = anchors.shape
    hist, hmask, fut, fmask = window_rows(data, anchors)                   # [M, B, K] x 2, [M, B, H] x 2
    ctx = net.encode(data.delta_n[hist], data.act_f[hist], hmask)          # [M, B, c]
    fmask = fmask.reshape(m, -1).float()
    fut = fut.reshape(m, -1)                                               # [M, B*H]
    h = data.fut_offsets.numel()
    ctx = ctx.unsqueeze(2).expand(-1, -1, h, -1).reshape(m, b * h, -1)
    act_f = data.act_f[fut]
    mu, logvar = net.dynamics(data.obs_n[fut], act_f, ctx)
    sq = (mu - data.delta_n[fut]).square()
    fwd_sq = sq.mean(-1)
    fwd = fwd_sq if logvar is None else (sq * torch.exp(-logvar) + logvar).mean(-1)
    back_sq = (net.backward_dynamics(data.next_n[fut], act_f, ctx) - data.back_n[fut]).square().mean(-1)
    n_valid = fmask.sum(-1).clamp_min(1.0)
    masked = lambda x: (x * fmask).sum(-1) / n_valid  # noqa: E731
    return masked(fwd), masked(back_sq), masked(fwd_sq)


def _member_orders(n_train: int, cfg: CaDMConfig, gen: torch.Generator) -> torch.Tensor:
    """Indices ``[M, n_train]`` into the training windows: a bootstrap resample per member (M > 1)."""
    m = cfg.n_members
    if m > 1 and cfg.bootstrap:
        return torch.randint(n_train, (m, n_train), generator=gen)
    return torch.arange(n_train).expand(m, -1)


@torch.no_grad()
def _evaluate(net: CaDMNet, data: _Data, windows: torch.Tensor, cfg: CaDMConfig) -> tuple[float, float]:
    """(validation loss, forward MSE) on ``windows``, every member on all of them, mean over members."""
    net.eval()
    chunk = max(1, 65536 // (cfg.n_members * cfg.future_length))
    total_loss = total_mse = 0.0
    for s in range(0, len(windows), chunk):
        w = windows[s:s + chunk]
        fwd, back, mse = _window_losses(net, data, w.expand(cfg.n_members, -1))
        total_loss += (fwd + cfg.backward_weight * back).mean().item() * len(w)
        total_mse += mse.mean().item() * len(w)
    return total_loss / len(windows), total_mse / len(windows)


def _train_epoch(net: CaDMNet, data: _Data, train_w: torch.Tensor, orders: torch.Tensor, opt: torch.optim.Optimizer,
                 cfg: CaDMConfig, gen: torch.Generator) -> tuple[float, float]:
    """One pass over the (per-member shuffled) training windows; mean (loss, forward MSE) per member."""
    net.train()
    m, n = orders.shape
    shuffled = torch.gather(orders, 1, torch.argsort(torch.rand(m, n, generator=gen), dim=1)).to(train_w.device)
    total_loss = total_mse = 0.0
    for s in range(0, n, cfg.batch_size):
        anchors = train_w[shuffled[:, s:s + cfg.batch_size]]               # [M, B]
        fwd, back, mse = _window_losses(net, data, anchors)
        recon = fwd + cfg.backward_weight * back
        loss = recon.sum() + net.regulariser()                             # members independent
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total_loss += recon.mean().item() * anchors.shape[1]
        total_mse += mse.mean().item() * anchors.shape[1]
    return total_loss / n, total_mse / n


def _split(n: int, val_fraction: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) window ids: a random ``val_fraction`` of all windows, across trajectories."""
    order = torch.randperm(n, generator=gen)
    n_val = int(round(val_fraction * n))
    if n - n_val < 1:
        raise ValueError(f"CaDM: {n} transitions leave no training window after the validation split")
    return order[n_val:].sort().values, order[:n_val].sort().values


def train_cadm(ds: OfflineDataset, cfg: CaDMConfig, seed: int, device: str = "cpu",
               logger: logging.Logger | None = None) -> tuple[CaDMSimulator, pd.DataFrame]:
    """Fit CaDM on the recorded trajectories of ``ds`` (one window per transition).

    Adam, early stopping on the validation loss (``patience`` epochs; the best weights are
    restored). Returns the simulator and the per-epoch history (columns epoch, train_loss,
    train_mse, val_loss, val_mse, lr, seconds, best); losses are per member, in standardised units.
    """
    log = logger or LOG
    device = resolve_device(device)
    if ds.n_transitions < 2:
        raise ValueError(f"CaDM: dataset {ds.path} has {ds.n_transitions} transitions; need at least 2")
    discrete = ds.actions.ndim == 1
    n_actions = N_ACTIONS[ds.env] if discrete else 0
    action_dim = 0 if discrete else ds.actions.shape[1]
    if discrete and (ds.actions.min() < 0 or ds.actions.max() >= n_actions):
        raise ValueError(f"CaDM: {ds.env} actions must lie in [0, {n_actions}), "
                         f"got {ds.actions.min()}..{ds.actions.max()}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = CaDMNet(ds.obs.shape[1], n_actions, action_dim, cfg).to(device)
    gen = torch.Generator().manual_seed(seed)
    train_w, val_w = _split(ds.n_transitions, cfg.val_fraction, gen)
    data = _prepare(ds, net, train_w.to(device), cfg, device)
    orders = _member_orders(len(train_w), cfg, gen)
    train_w, val_w = train_w.to(device), val_w.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    label = f"cadm {'pets' if cfg.probabilistic else 'vanilla'} M={cfg.n_members} epochs"
    progress = Progress(cfg.epochs, label, every=max(1, cfg.epochs // 20), logger=log)
    rows, best, best_state, stale = [], math.inf, None, 0
    what = f"{'PE-TS' if cfg.probabilistic else 'Vanilla'} CaDM on {data_label(ds)}"
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        train_loss, train_mse = _train_epoch(net, data, train_w, orders, opt, cfg, gen)
        val_loss, val_mse = _evaluate(net, data, val_w, cfg) if len(val_w) else (math.nan, math.nan)
        check_loss(train_loss, what, epoch, **({"val_loss": val_loss} if len(val_w) else {}))
        improved = len(val_w) == 0 or best_state is None or val_loss < best
        if improved:
            best, stale = (val_loss if math.isfinite(val_loss) else math.inf), 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
        rows.append({"epoch": epoch, "train_loss": train_loss, "train_mse": train_mse, "val_loss": val_loss,
                     "val_mse": val_mse, "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0,
                     "best": improved})
        progress.update(1, loss=train_loss, val_loss=val_loss, val_mse=val_mse)
        if len(val_w) and stale >= cfg.patience:
            log.info("cadm: early stop after epoch %d (no val improvement for %d epochs; best %.4g)",
                     epoch, cfg.patience, best)
            break
    progress.close()
    net.load_state_dict(best_state)
    check_weights(net.named_parameters(), what)
    history = pd.DataFrame(rows)
    meta = {"env": ds.env, "obs_dim": int(ds.obs.shape[1]), "n_actions": n_actions, "action_dim": action_dim,
            "seed": seed, "n_transitions": int(ds.n_transitions), "n_train_windows": int(len(train_w)),
            "n_val_windows": int(len(val_w)), "epochs_run": len(rows),
            "best_epoch": int(history.loc[history["best"], "epoch"].max())}
    return CaDMSimulator(net, cfg, meta), history


# --------------------------------------------------------------------------------------------
# The method protocol (persim.protocols): config, train, load
# --------------------------------------------------------------------------------------------
def make_config(settings: dict[str, Any], env: str, key: str, episode_steps: int, variant: str = "vanilla",
                **_: Any) -> CaDMConfig:
    """CaDMConfig of ``variant`` (:meth:`CaDMConfig.for_variant`: ``"pets"`` starts from 5 probabilistic
    members and 20 particles) updated with resolved settings (ConfigError names ``key.<field>``)."""
    from persim.config import build_dataclass

    return build_dataclass(CaDMConfig.for_variant, settings, key, CaDMConfig, variant=variant)


def train(ds: OfflineDataset, agents: pd.DataFrame, cfg: CaDMConfig, seed: int, device: str = "cpu",
          log: logging.Logger | None = None, **_: Any) -> tuple[CaDMSimulator, pd.DataFrame]:
    """:func:`train_cadm` (CaDM has no notion of agent ids: ``agents`` is not used)."""
    return train_cadm(ds, cfg, seed=seed, device=device, logger=log)


def load(path: str | Path, device: str = "cpu") -> CaDMSimulator:
    return CaDMSimulator.load(path, device=device)


__all__ = ["CaDMConfig", "CaDMNet", "CaDMSimulator", "load", "make_config", "train", "train_cadm",
           "trajectory_bounds"]
