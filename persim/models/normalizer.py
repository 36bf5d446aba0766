"""Feature standardisation with statistics from a dataset (stored with the model)."""
from __future__ import annotations

import torch
from torch import nn


class Standardizer(nn.Module):
    """``(x - mean) / std`` per feature; std is floored so constant features stay finite."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor, min_std: float = 1e-6) -> "Standardizer":
        """Set statistics from ``x [T, dim]``."""
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(min_std))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean
