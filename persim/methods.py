"""Registry of methods: how to load a trained simulator or policy by method name.

Adding a method means: its module, its rule, and one line here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

SIMULATOR_METHODS: dict[str, str] = {"persim": "PerSim"}  # wildcard name -> paper label


def _load_persim(path: str | Path, device: str = "cpu"):
    from persim.models import PerSimSimulator

    return PerSimSimulator.load(path, device=device)


_LOADERS: dict[str, Callable] = {"persim": _load_persim}


def load_simulator(method: str, path: str | Path, device: str = "cpu"):
    """Load the simulator that rule ``train_<method>`` wrote to ``path``."""
    if method not in _LOADERS:
        raise KeyError(f"unknown simulator method {method!r}; known: {sorted(_LOADERS)}")
    return _LOADERS[method](path, device)
