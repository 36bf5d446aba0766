"""Simulators for agents without data (paper App. F.5, Tables 12-13).

PerSim learns an agent factor u ``[M, N, r]`` (one row per member and training agent) without ever
seeing the covariates. Given the covariates of some training agents, a small MLP learns the map
covariates -> u (all M members' factors at once, standardised inputs and targets); for a new agent,
its predicted u plugs into the trained state and action encoders:

    fmap = fit_factor_map(covariates_of_known_agents, sim.agent_factors()[:, known], FactorMapConfig())
    new_sim, ids = simulator_for(sim, fmap, [[0.004]])   # a Simulator; the new agent is id ids[0]

``p`` of the paper is the share of TRAINING agents whose covariates are known
(:func:`known_agents` draws them).
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from persim.guards import check_loss
from persim.models.persim import EnsembleEmbedding, PerSimSimulator


@dataclass
class FactorMapConfig:
    """The MLP covariates -> u (paper: 2 hidden layers of 64), trained full-batch with Adam."""

    hidden: list[int] = field(default_factory=lambda: [64, 64])
    epochs: int = 2000
    learning_rate: float = 1e-3


class FactorMap:
    """covariates ``[B, C]`` (raw units) -> agent factors u ``[M, B, r]``."""

    def __init__(self, mlp: nn.Module, x_mean: np.ndarray, x_std: np.ndarray, y_mean: np.ndarray,
                 y_std: np.ndarray, shape: tuple[int, int], cfg: FactorMapConfig):
        self.mlp, self.cfg, self.shape = mlp.eval(), cfg, shape  # shape = (M, r)
        self.x_mean, self.x_std, self.y_mean, self.y_std = x_mean, x_std, y_mean, y_std

    @torch.no_grad()
    def __call__(self, covariates) -> np.ndarray:
        x = (np.asarray(covariates, dtype=np.float64).reshape(-1, len(self.x_mean)) - self.x_mean) / self.x_std
        y = self.mlp(torch.as_tensor(x, dtype=torch.float32)).numpy() * self.y_std + self.y_mean  # [B, M*r]
        m, r = self.shape
        return y.reshape(-1, m, r).transpose(1, 0, 2)


def _mlp(n_in: int, hidden: list[int], n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.ReLU()]
        n_in = h
    return nn.Sequential(*layers, nn.Linear(n_in, n_out))


def fit_factor_map(covariates, factors: np.ndarray, cfg: FactorMapConfig, seed: int = 0) -> FactorMap:
    """Fit covariates ``[N, C]`` -> factors ``[M, N, r]`` (mean squared error on standardised targets)."""
    x = np.asarray(covariates, dtype=np.float64).reshape(len(factors[0]), -1)
    m, n, r = factors.shape
    y = factors.transpose(1, 0, 2).reshape(n, m * r)
    x_mean, x_std = x.mean(0), np.where(x.std(0) > 0, x.std(0), 1.0)
    y_mean, y_std = y.mean(0), np.where(y.std(0) > 0, y.std(0), 1.0)
    xt = torch.as_tensor((x - x_mean) / x_std, dtype=torch.float32)
    yt = torch.as_tensor((y - y_mean) / y_std, dtype=torch.float32)
    torch.manual_seed(seed)
    mlp = _mlp(x.shape[1], list(cfg.hidden), m * r)
    opt = torch.optim.Adam(mlp.parameters(), lr=cfg.learning_rate)
    for epoch in range(cfg.epochs):
        opt.zero_grad()
        loss = (mlp(xt) - yt).square().mean()
        loss.backward()
        opt.step()
        if epoch % 100 == 0 or epoch == cfg.epochs - 1:
            check_loss(loss.item(), "factor map (covariates -> u)", epoch + 1)
    return FactorMap(mlp, x_mean, x_std, y_mean, y_std, (m, r), cfg)


def known_agents(n_agents: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted ids of the ``ceil(fraction * n_agents)`` training agents (at least 2) whose covariates
    the factor map may use, drawn without replacement."""
    k = min(n_agents, max(2, math.ceil(fraction * n_agents)))
    return np.sort(np.random.default_rng(seed).choice(n_agents, size=k, replace=False))


def simulator_for(sim: PerSimSimulator, fmap: FactorMap, covariates) -> tuple[PerSimSimulator, np.ndarray]:
    """A copy of ``sim`` whose agent table also holds the new agents (ids ``N .. N+K-1``, returned):
    their u = ``fmap(covariates)`` ``[M, K, r]``; the state and action encoders are ``sim``'s."""
    u = torch.as_tensor(fmap(covariates), dtype=torch.float32, device=sim.device)  # [M, K, r]
    net = copy.deepcopy(sim.net)
    old = net.g_u
    m, n, r = old.weight.shape
    table = EnsembleEmbedding(m, n + u.shape[1], r).to(sim.device)
    with torch.no_grad():
        table.weight.copy_(torch.cat([old.weight, u - old.bias], dim=1))  # the table adds the bias back
        table.bias.copy_(old.bias)
    net.g_u = table
    ids = np.arange(n, n + u.shape[1])
    meta = {**sim.meta, "n_agents": n + u.shape[1], "unseen_agent_ids": ids.tolist(),
            "unseen_covariates": np.asarray(covariates, dtype=float).tolist(), "factor_map": asdict(fmap.cfg)}
    return PerSimSimulator(net, sim.cfg, meta), ids
