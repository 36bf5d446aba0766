"""Heterogeneous MountainCar, CartPole and HalfCheetah (paper Appendix E.1).

Importing this package registers the gymnasium ids ``persim/MountainCar-v0``,
``persim/CartPole-v0`` and ``persim/HalfCheetah-v0``; covariates are keyword arguments::

    env = persim.envs.make("cartpole", force=2.0, length=0.5)
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import gymnasium as gym

from persim.envs.specs import ENV_NAMES, SPECS, EnvSpec, get_spec, register_spec, unregister_spec

_ENTRY_POINTS = {
    "mountaincar": "persim.envs.mountaincar:HeterogeneousMountainCar",
    "cartpole": "persim.envs.cartpole:HeterogeneousCartPole",
    "halfcheetah": "persim.envs.halfcheetah:HeterogeneousHalfCheetah",
}


def register_envs() -> None:
    """Register the three envs with gymnasium (idempotent)."""
    for name, entry in _ENTRY_POINTS.items():
        spec = SPECS[name]
        if spec.gym_id not in gym.registry:
            gym.register(id=spec.gym_id, entry_point=entry, max_episode_steps=spec.max_episode_steps)


def register_env(spec: EnvSpec, entry_point: str | Callable[..., gym.Env] | None = None,
                 replace: bool = False) -> EnvSpec:
    """Register your own environment family (see :meth:`EnvSpec.for_data`): its spec, and with
    ``entry_point`` (``"module:Class"`` or the class; covariates as keyword arguments) a gymnasium env under
    ``spec.gym_id`` (default ``persim/<name>-v0``) so :func:`make` builds it. Its reward for MPC and
    MOReL goes to :func:`persim.planning.rewards.register_reward`."""
    if entry_point is not None and not spec.gym_id:
        spec = dataclasses.replace(spec, gym_id=f"persim/{spec.name}-v0")
    if spec.gym_id in {SPECS[name].gym_id for name in ENV_NAMES}:
        raise ValueError(f"gymnasium id {spec.gym_id!r} belongs to one of the paper's envs: choose another")
    if entry_point is not None and spec.gym_id in gym.registry and not replace:
        raise ValueError(f"gymnasium id {spec.gym_id!r} is already registered (pass replace=True to replace it)")
    register_spec(spec, replace=replace)
    if entry_point is not None:
        gym.registry.pop(spec.gym_id, None)
        gym.register(id=spec.gym_id, entry_point=entry_point, max_episode_steps=spec.max_episode_steps)
    return spec


def unregister_env(name: str) -> None:
    """Remove an env added by :func:`register_env`: its spec and its gymnasium id (the paper's stay)."""
    spec = SPECS.get(name)
    unregister_spec(name)
    if spec is not None and spec.gym_id:
        gym.registry.pop(spec.gym_id, None)


def make(name: str, max_episode_steps: int | None = None, **covariates: float) -> gym.Env:
    """Create env ``name`` with the given covariates (defaults: the env's default agent).

    Args:
        name: ``mountaincar``, ``cartpole`` or ``halfcheetah``.
        max_episode_steps: episode cap; ``None`` = the paper's (500 / 200 / 1000).
        **covariates: e.g. ``gravity=0.001`` or ``mass=1.7, damping=0.3``.
    """
    spec = get_spec(name)
    if not spec.gym_id:
        raise ValueError(f"env {name!r} was registered without a gymnasium entry point: "
                         "persim.envs.register_env(spec, entry_point='module:Class') makes it buildable")
    unknown = set(covariates) - set(spec.covariates)
    if unknown:
        raise TypeError(f"{name}: unknown covariates {sorted(unknown)}; expected {list(spec.covariates)}")
    kwargs = {**dict(zip(spec.covariates, spec.default)), **covariates}
    cap = spec.max_episode_steps if max_episode_steps is None else int(max_episode_steps)
    return gym.make(spec.gym_id, max_episode_steps=cap, **kwargs)


register_envs()

__all__ = ["ENV_NAMES", "SPECS", "EnvSpec", "get_spec", "make", "register_env", "register_envs", "register_spec",
           "unregister_env", "unregister_spec"]
