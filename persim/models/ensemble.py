"""Batched ensemble layers: M independent networks stored as stacked weights.

Every tensor carries the member axis first: inputs ``[M, B, in]`` -> outputs ``[M, B, out]``. One
``torch.baddbmm`` evaluates all members at once, so an ensemble of 5 costs one kernel per layer
instead of 5 (on CPU and CUDA alike).
"""
from __future__ import annotations

import math

import torch
from torch import nn


class EnsembleLinear(nn.Module):
    """M linear maps ``[M, B, in] -> [M, B, out]``, each initialised like ``nn.Linear``."""

    def __init__(self, n_members: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(n_members, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_members, 1, out_features).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.bmm(x, self.weight)
        if self.bias is not None:
            out += self.bias  # in place: on CPU ~2x faster than baddbmm's broadcast bias
        return out


class EnsembleMLP(nn.Module):
    """M MLPs with ReLU hidden layers: ``[M, B, in] -> [M, B, out]``; ``hidden=()`` is linear."""

    def __init__(self, n_members: int, in_features: int, out_features: int, hidden: tuple[int, ...] = ()):
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(EnsembleLinear(n_members, a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
