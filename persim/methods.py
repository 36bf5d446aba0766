"""Registry of methods: wildcard names, paper labels and how to load what a method's rule trained.

Two kinds of methods exist. *Simulators* (PerSim, CaDM) write ``model.pt`` and are scored by both
evaluations (prediction: Tables 6-8; MPC reward: Tables 9-11). *Policies* (BCQ, CQL, MOReL) write
``policy.pt`` (a policy set: one policy for all agents, "-P", or one per test agent, "-A") and act
directly in the true env (reward only). Adding a method means: its module, its rule, one line here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

SIMULATOR_METHODS: dict[str, str] = {  # wildcard name -> paper label
    "persim": "PerSim",
    "cadm_vanilla": "Vanilla CaDM",
    "cadm_pets": "PE-TS CaDM",
}
POLICY_METHODS: dict[str, str] = {
    "bcq_p": "BCQ-P", "bcq_a": "BCQ-A",
    "cql_p": "CQL-P", "cql_a": "CQL-A",
    "morel_p": "MOReL-P", "morel_a": "MOReL-A",
}
METHOD_LABELS: dict[str, str] = {**SIMULATOR_METHODS, **POLICY_METHODS}


def split_policy_method(method: str) -> tuple[str, str]:
    """``"cql_a"`` -> (algorithm ``"cql"``, scope ``"a"``)."""
    if method not in POLICY_METHODS:
        raise KeyError(f"unknown policy method {method!r}; known: {sorted(POLICY_METHODS)}")
    algo, scope = method.rsplit("_", 1)
    return algo, scope


def _load_persim(path: str | Path, device: str = "cpu"):
    from persim.models import PerSimSimulator

    return PerSimSimulator.load(path, device=device)


def _load_cadm(path: str | Path, device: str = "cpu"):
    from persim.baselines.cadm import CaDMSimulator

    return CaDMSimulator.load(path, device=device)


def _load_offline_rl(path: str | Path, device: str = "cpu"):
    from persim.baselines.offline_rl import PolicySet

    return PolicySet.load(path, device=device)


def _load_morel(path: str | Path, device: str = "cpu"):
    from persim.baselines.morel import MorelPolicySet

    return MorelPolicySet.load(path, device=device)


_SIMULATOR_LOADERS: dict[str, Callable[..., Any]] = {
    "persim": _load_persim, "cadm_vanilla": _load_cadm, "cadm_pets": _load_cadm,
}
_POLICY_LOADERS: dict[str, Callable[..., Any]] = {
    "bcq": _load_offline_rl, "cql": _load_offline_rl, "morel": _load_morel,
}


def load_simulator(method: str, path: str | Path, device: str = "cpu"):
    """Load the simulator that rule ``train_<method>`` wrote to ``path``."""
    if method not in _SIMULATOR_LOADERS:
        raise KeyError(f"unknown simulator method {method!r}; known: {sorted(_SIMULATOR_LOADERS)}")
    return _SIMULATOR_LOADERS[method](path, device)


def load_policy_set(method: str, path: str | Path, device: str = "cpu"):
    """Load the policy set a policy method's rule wrote; ``.actor(agent_id)`` gives ``act(obs [B, D])``."""
    algo, _ = split_policy_method(method)
    return _POLICY_LOADERS[algo](path, device)
