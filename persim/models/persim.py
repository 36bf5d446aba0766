"""PerSim's personalized simulators (paper §4, App. D.1) as one batched ensemble.

The next-state change of agent n under (s, a) is modelled, coordinate by coordinate, as a rank-r
tensor product of three latent factors:

    Δs_d ≈ Σ_l u_l(n) · v_l(s, d) · w_l(a)

with an agent encoder g_u (a linear layer on the agent one-hot, i.e. an embedding table),
a state encoder g_v (MLP, D -> D·r) and an action encoder g_w (linear on the action one-hot for
discrete actions, MLP for continuous ones). States, continuous actions and the target Δs are
standardised with dataset statistics. M members with different initialisations and minibatch
orders are trained at once as stacked weights ([M, ...] on every tensor).
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

from persim.allocator import gc_paused
from persim.data.schema import N_ACTIONS, OfflineDataset
from persim.guards import check_loss, check_output, check_rate, check_weights, data_label
from persim.models.ensemble import EnsembleMLP
from persim.models.folded import can_fold, folded_form, folded_step
from persim.models.manual_grad import loss_and_grad
from persim.models.normalizer import Standardizer
from persim.progress import Progress

LOG = logging.getLogger("persim")
# Cost model (persim.cost): training work grows with these config fields ("pass": epochs over the data)
WORK_FIELDS = {"epochs": "pass"}


@dataclass
class PerSimConfig:
    """Hyper-parameters (paper values: rank 3/5/15, 300 epochs, batch 512/64/512, lr 1e-3 halved every
    150 epochs, M = 5; state encoder 1x256 (MC/CP) or 4x256 (HC); action encoder 2x256 if continuous).

    ``standardize``: fit the state, action and Δs standardisers on the data, so the loss weighs every
    coordinate of Δs equally; off, the model sees raw units and its MSE is in the units the
    prediction RMSE is scored in. The authors (AbdullahO/PerSim ``run.py``, ``normalize``) standardise
    for HalfCheetah only.
    """

    rank: int = 3
    state_hidden: list[int] = field(default_factory=lambda: [256])
    action_hidden: list[int] = field(default_factory=lambda: [256, 256])
    n_members: int = 5
    epochs: int = 300
    batch_size: int = 512
    learning_rate: float = 1e-3
    lr_halve_every: int = 150
    standardize: bool = True

    def __post_init__(self) -> None:
        for key in ("rank", "n_members", "epochs", "batch_size", "lr_halve_every"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"persim.{key} must be >= 1, got {getattr(self, key)}")
        check_rate("persim.learning_rate", self.learning_rate)


class EnsembleEmbedding(nn.Module):
    """Linear layer on a one-hot input, as a table lookup: ids ``[B]`` or ``[M, B]`` -> ``[M, B, r]``."""

    def __init__(self, n_members: int, n_items: int, dim: int):
        super().__init__()
        bound = 1.0 / np.sqrt(n_items)
        self.weight = nn.Parameter(torch.empty(n_members, n_items, dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_members, 1, dim).uniform_(-bound, bound))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() == 1:  # the same ids for every member
            return self.weight.index_select(1, ids) + self.bias
        return self.lookup(ids)[0]

    def lookup(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``[M, B, r]`` for ids ``[B] | [M, B]``, and their flat indices ``[M*B]`` into the
        ``[M*N, r]`` table (what a hand-written backward scatters the gradient into)."""
        m, n, dim = self.weight.shape
        ids = ids.expand(m, -1) if ids.dim() == 1 else ids
        flat = (ids + n * torch.arange(m, device=ids.device).unsqueeze(1)).reshape(-1)
        return self.weight.reshape(m * n, dim).index_select(0, flat).view(m, -1, dim) + self.bias, flat


class PerSimNet(nn.Module):
    """The M-member factorised dynamics model; works in standardised units.

    Args:
        n_agents: N, size of the agent one-hot.
        obs_dim: D.
        n_actions: number of discrete actions, or 0 for continuous actions of size ``action_dim``.
    """

    def __init__(self, n_agents: int, obs_dim: int, n_actions: int, action_dim: int, cfg: PerSimConfig):
        super().__init__()
        m, r = cfg.n_members, cfg.rank
        self.obs_dim, self.rank, self.n_members = obs_dim, r, m
        self.discrete = n_actions > 0
        self.g_u = EnsembleEmbedding(m, n_agents, r)
        self.g_v = EnsembleMLP(m, obs_dim, obs_dim * r, tuple(cfg.state_hidden))
        self.g_w = EnsembleEmbedding(m, n_actions, r) if self.discrete else EnsembleMLP(m, action_dim, r, tuple(cfg.action_hidden))
        self.obs_norm = Standardizer(obs_dim)
        self.delta_norm = Standardizer(obs_dim)
        self.act_norm = Standardizer(max(action_dim, 1))

    def factors(self, agents: torch.Tensor, states_n: torch.Tensor, actions: torch.Tensor):
        """Latent factors u ``[M, B, r]``, v ``[M, B, D, r]``, w ``[M, B, r]`` (standardised inputs)."""
        m, b = states_n.shape[0], states_n.shape[1]
        u = self.g_u(agents)
        v = self.g_v(states_n).view(m, b, self.obs_dim, self.rank)
        if self.discrete:
            w = self.g_w(actions)
        else:
            a = self.act_norm(actions)
            w = self.g_w(a.expand(m, -1, -1) if a.dim() == 2 else a)
        return u, v, w

    def forward(self, agents: torch.Tensor, states_n: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Standardised Δs ``[M, B, D]`` for agents ``[B]|[M,B]``, standardised states ``[M, B, D]``,
        actions ``[B]|[M,B]`` (int64) or ``[B, A]|[M, B, A]`` (raw units)."""
        u, v, w = self.factors(agents, states_n, actions)
        return torch.matmul(v, (u * w).unsqueeze(-1)).squeeze(-1)  # Σ_l u_l v_{l,d} w_l

    def step(self, agents: torch.Tensor, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Next states ``[M, B, D]`` in raw units from states ``[M, B, D]`` or ``[B, D]`` (raw units)."""
        if states.dim() == 2:
            states = states.expand(self.n_members, -1, -1)
        delta_n = self(agents, self.obs_norm(states), actions)
        return states + self.delta_norm.inverse(delta_n)


def _tensors(ds: OfflineDataset, device: str) -> dict[str, torch.Tensor]:
    discrete = ds.actions.ndim == 1
    return {
        "agents": torch.tensor(ds.agent_ids, dtype=torch.int64, device=device),
        "obs": torch.tensor(ds.obs, dtype=torch.float32, device=device),
        "actions": torch.tensor(ds.actions, dtype=torch.int64 if discrete else torch.float32, device=device),
        "delta": torch.as_tensor(ds.next_obs - ds.obs, dtype=torch.float32, device=device),
    }


class PerSimSimulator:
    """A trained PerSim ensemble behind the :class:`~persim.protocols.Simulator` protocol.

    ``predict(agents [B], states [B, D], actions [B] | [B, A]) -> next_states [B, D]`` (ensemble
    mean, raw units); ``member_predictions`` keeps the member axis ``[M, B, D]``. PerSim is told
    the agent id, so it takes no context (``context_length = 0``).
    """

    context_length = 0

    def __init__(self, net: PerSimNet, cfg: PerSimConfig, meta: dict[str, Any]):
        self.net, self.cfg, self.meta = net.eval(), cfg, meta
        self.n_members = self.planning_members = net.n_members

    @property
    def device(self) -> torch.device:
        return self.net.g_u.weight.device

    def encode_context(self, obs, actions, next_obs, mask) -> torch.Tensor:
        raise TypeError("PerSim conditions on agent ids, not on past transitions (context_length = 0)")

    @torch.no_grad()
    def member_predictions(self, agents, states, actions, context=None) -> torch.Tensor:
        dev = self.device
        agents = torch.as_tensor(agents, dtype=torch.int64, device=dev)
        states = torch.as_tensor(states, dtype=torch.float32, device=dev)
        actions = torch.as_tensor(actions, device=dev)
        actions = actions.long() if self.net.discrete else actions.float()
        return check_output(self.net.step(agents, states, actions), "PerSim predictions")

    def predict(self, agents, states, actions, context=None) -> torch.Tensor:
        return self.member_predictions(agents, states, actions).mean(0)

    def planning_step(self, agents, n_rows: int, context=None, generator: torch.Generator | None = None):
        """Step function for MPC over episode-major rows: episode ``e`` (agent ``agents[e]``, ids
        ``[E]``) owns rows ``e * n_rows ... (e + 1) * n_rows - 1``;
        ``step(states [M, E*n_rows, D], actions [E*n_rows] | [E*n_rows, A]) -> next states [M, E*n_rows, D]``.

        Discrete-action models with one hidden state-encoder layer use the folded form of
        :mod:`persim.models.folded` (same predictions, ~1.5x faster); others :meth:`PerSimNet.step`."""
        agents = torch.as_tensor(agents, dtype=torch.int64, device=self.device)
        if can_fold(self.net):
            return folded_step(self.net, agents, n_rows)
        rows = agents.repeat_interleave(n_rows)
        return lambda states, actions: self.net.step(rows, states, actions)

    def planning_form(self) -> str:
        """Which step function :meth:`planning_step` gives on this machine (for logs and provenance)."""
        return folded_form(self.net) if can_fold(self.net) else "PerSimNet.step (torch)"

    def agent_factors(self) -> np.ndarray:
        """Learned agent factors u ``[M, N, r]`` (agent one-hot through g_u)."""
        return (self.net.g_u.weight + self.net.g_u.bias).detach().cpu().numpy()

    def save(self, path: str | Path) -> None:
        torch.save({"config": asdict(self.cfg), "meta": self.meta, "state_dict": self.net.state_dict()}, str(path))

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "PerSimSimulator":
        blob = torch.load(str(path), map_location=device, weights_only=False)
        cfg, meta = PerSimConfig(**blob["config"]), blob["meta"]
        net = PerSimNet(meta["n_agents"], meta["obs_dim"], meta["n_actions"], meta["action_dim"], cfg).to(device)
        net.load_state_dict(blob["state_dict"])
        return cls(net, cfg, meta)


def train_persim(ds: OfflineDataset, n_agents: int, cfg: PerSimConfig, seed: int, device: str = "cpu",
                 val_fraction: float = 0.0) -> tuple[PerSimSimulator, dict[str, list[float]]]:
    """Fit the ensemble on ``ds`` (all members in one batched pass per minibatch).

    With ``val_fraction > 0``, that share of transitions (drawn across all trajectories) is held
    out and the per-epoch validation MSE (standardised Δs, mean over members) is returned.
    Returns the simulator and a history ``{"train_loss": [...], "val_loss": [...], "epoch_s": [...]}``
    (``epoch_s``: wall seconds of each epoch, validation included).
    """
    torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    data = _tensors(ds, device)
    n = len(data["obs"])
    order = torch.randperm(n, generator=gen)
    n_val = int(round(val_fraction * n))
    val_idx, train_idx = order[:n_val].to(device), order[n_val:].to(device)
    discrete = ds.actions.ndim == 1
    n_actions = N_ACTIONS[ds.env]
    action_dim = 0 if discrete else ds.actions.shape[1]
    net = PerSimNet(n_agents, ds.obs.shape[1], n_actions, action_dim, cfg).to(device)
    if cfg.standardize:  # otherwise the standardisers stay the identity (mean 0, std 1)
        net.obs_norm.fit(data["obs"][train_idx])
        net.delta_norm.fit(data["delta"][train_idx])
        if not discrete:
            net.act_norm.fit(data["actions"][train_idx])
    target = net.delta_norm(data["delta"])
    obs_n = net.obs_norm(data["obs"])
    opt = _adam(net, cfg.learning_rate)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_halve_every, gamma=0.5)
    m, bsz, n_train = cfg.n_members, cfg.batch_size, len(train_idx)
    columns = {"agents": data["agents"], "obs": obs_n, "actions": data["actions"], "target": target}
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "epoch_s": []}
    progress = Progress(cfg.epochs, f"persim r={cfg.rank} M={m} epochs", every=max(1, cfg.epochs // 20))
    what = f"PerSim r={cfg.rank} on {data_label(ds)}"
    with gc_paused():
        for epoch in range(1, cfg.epochs + 1):
            start = time.perf_counter()
            perms = torch.stack([torch.randperm(n_train, generator=gen) for _ in range(m)]).to(device)  # [M, T]
            total = torch.zeros((), device=device)
            for batch in _minibatches(columns, train_idx[perms], bsz):
                # members independent: the loss sums per-member batch means (gradient by hand, see manual_grad)
                loss = loss_and_grad(net, batch["agents"], batch["obs"], batch["actions"], batch["target"])
                opt.step()
                total += loss * batch["target"].shape[1]
            sched.step()
            history["train_loss"].append(float(total) / (n_train * m))
            metrics = {"train_mse": history["train_loss"][-1]}
            if n_val:
                history["val_loss"].append(_val_loss(net, data, obs_n, target, val_idx))
                metrics["val_mse"] = history["val_loss"][-1]
            check_loss(history["train_loss"][-1], what, epoch, **({"val_mse": metrics["val_mse"]} if n_val else {}))
            history["epoch_s"].append(time.perf_counter() - start)
            progress.update(1, **metrics)
    progress.close()
    check_weights(net.named_parameters(), what, cfg.epochs)
    meta = {"env": ds.env, "n_agents": n_agents, "obs_dim": ds.obs.shape[1], "n_actions": n_actions,
            "action_dim": action_dim, "seed": seed, "n_transitions": n, "n_val": n_val}
    return PerSimSimulator(net, cfg, meta), history


def make_config(settings: dict[str, Any], env: str, key: str = "persim", episode_steps: int = 0,
                **_: Any) -> PerSimConfig:
    """PerSimConfig from resolved settings (ConfigError names ``key.<field>``)."""
    from persim.config import build_dataclass

    return build_dataclass(PerSimConfig, settings, key)


def train(ds: OfflineDataset, agents: pd.DataFrame, cfg: PerSimConfig, seed: int, device: str = "cpu",
          log: logging.Logger | None = None, **_: Any) -> tuple[PerSimSimulator, pd.DataFrame]:
    """:func:`train_persim` on ``ds`` with one agent factor per row of the agents table; the history
    frame has columns epoch, train_mse and epoch_s (wall seconds)."""
    sim, history = train_persim(ds, len(agents), cfg, seed=seed, device=device)
    frame = pd.DataFrame({"epoch": range(1, len(history["train_loss"]) + 1), "train_mse": history["train_loss"],
                          "epoch_s": history["epoch_s"]})
    return sim, frame


def load(path: str | Path, device: str = "cpu") -> PerSimSimulator:
    return PerSimSimulator.load(path, device=device)


def _adam(net: nn.Module, lr: float) -> torch.optim.Adam:
    """Adam with one fused kernel per parameter (the per-parameter loop of the default CPU
    implementation is ~30% of a batch-64 step); members stay independent since Adam is elementwise."""
    try:
        return torch.optim.Adam(net.parameters(), lr=lr, fused=True)
    except (RuntimeError, ValueError):  # a device without a fused kernel
        return torch.optim.Adam(net.parameters(), lr=lr, foreach=True)


def _minibatches(columns: dict[str, torch.Tensor], order: torch.Tensor, batch_size: int,
                 steps_per_chunk: int = 64) -> Iterator[dict[str, torch.Tensor]]:
    """Yield per-member minibatches ``{name: [M, B, ...]}`` following ``order`` ``[M, T]`` (row ids).

    Rows are gathered once per chunk of ``steps_per_chunk`` minibatches (one index op per column,
    bounded memory) and minibatches are views of the chunk."""
    chunk = batch_size * steps_per_chunk
    for c0 in range(0, order.shape[1], chunk):
        idx = order[:, c0:c0 + chunk]
        gathered = {k: v[idx] for k, v in columns.items()}
        for b0 in range(0, idx.shape[1], batch_size):
            yield {k: v[:, b0:b0 + batch_size] for k, v in gathered.items()}


@torch.no_grad()
def _val_loss(net: PerSimNet, data, obs_n, target, val_idx, chunk: int = 65536) -> float:
    net.eval()
    total = 0.0
    for start in range(0, len(val_idx), chunk):
        idx = val_idx[start:start + chunk]
        states = obs_n[idx].expand(net.n_members, -1, -1)
        pred = net(data["agents"][idx], states, data["actions"][idx])
        total += (pred - target[idx]).square().sum(-1).mean(0).sum().item()
    return total / len(val_idx)
