"""Fail loudly instead of publishing a wrong number: non-finite losses, weights and predictions.

A training run whose loss or weights turn NaN/inf stops with :class:`DivergenceError` naming the
method, the data and the epoch; an evaluator handed a model whose predictions are not finite stops
with :class:`NonFiniteError`. Either way the job fails and no table cell is written from it.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import torch


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss or non-finite weights."""


class NonFiniteError(RuntimeError):
    """A model's predictions (or a planner's scores) are not finite."""


def data_label(ds: Any) -> str:
    """``env/behaviour`` of an :class:`~persim.data.schema.OfflineDataset` (its path if unnamed)."""
    behaviour = (getattr(ds, "meta", None) or {}).get("behaviour")
    return f"{ds.env}/{behaviour}" if behaviour else f"{ds.env} ({ds.path})"


def check_loss(value: float, what: str, epoch: int, **extra: float) -> None:
    """Raise DivergenceError if ``value`` (or any of ``extra``) is NaN or inf.

    ``what`` names the method and data (``"PerSim on cartpole/random"``); ``epoch`` counts from 1."""
    bad = {k: v for k, v in {"loss": value, **extra}.items() if not math.isfinite(float(v))}
    if bad:
        raise DivergenceError(f"{what}: training diverged at epoch {epoch} (non-finite "
                              f"{', '.join(f'{k}={v}' for k, v in bad.items())}); lower the learning rate "
                              "or check the data")


def check_weights(params: Iterable[tuple[str, torch.Tensor]], what: str, epoch: int | None = None) -> None:
    """Raise DivergenceError naming the first parameter that holds NaN or inf."""
    for name, p in params:
        if not torch.isfinite(p).all():
            at = f" at epoch {epoch}" if epoch is not None else ""
            raise DivergenceError(f"{what}: training diverged{at} (parameter {name!r} holds NaN or inf)")


def check_output(x: torch.Tensor, what: str) -> torch.Tensor:
    """``x`` unchanged if every entry is finite, else NonFiniteError naming ``what``."""
    if not torch.isfinite(torch.as_tensor(x)).all():
        raise NonFiniteError(f"{what}: non-finite values (NaN or inf); the model is unusable (did training "
                             "diverge?)")
    return x


MAX_LEARNING_RATE = 0.1  # an Adam step size above this diverges for every model here


def check_rate(key: str, value: float) -> None:
    """ValueError naming ``key`` unless ``0 < value <= MAX_LEARNING_RATE``."""
    if not 0.0 < float(value) <= MAX_LEARNING_RATE:
        raise ValueError(f"{key} must be in (0, {MAX_LEARNING_RATE}], got {value}")
