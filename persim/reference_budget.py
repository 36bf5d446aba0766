"""Rows planned at a reference budget (config ``evaluation.reward.reference_mpc``).

A profile whose MPC rows plan at a reduced budget (quick: MountainCar 100 x 25) can plan True env +
MPC once more at the paper's (1000 x 50), a row of its own that checks the planner against the
paper's True env + MPC cells; the row at the run's budget stays the ceiling of the MPC rows. The
simulators named in ``evaluation.reward.reference_methods`` (quick: PerSim, whose planning is cheap)
plan there too, on every dataset: rows such as "PerSim (reference budget)", judged against the
paper's cells of their method, with True env + MPC at the reference budget as their ceiling. Every
MPC row at the run's own budget keeps one budget for all methods. Only the workflow and the table
captions read this module (no job script imports it), so adding a reference budget reruns no
training or evaluation job.
"""
from __future__ import annotations

from typing import Any

from persim.config import ConfigError, mpc_episodes, mpc_settings
from persim.methods import SIMULATOR_METHODS


def reference_mpc_settings(config: dict[str, Any], env: str) -> dict[str, Any] | None:
    """The planner settings of ``env``'s True env + MPC row at the reference budget: the run's
    (:func:`persim.config.mpc_settings`) updated with ``evaluation.reward.reference_mpc.<env>``;
    None where the run has no such row for ``env``."""
    override = (config["evaluation"]["reward"].get("reference_mpc") or {}).get(env)
    return None if override is None else {**mpc_settings(config, env), **override}


def reference_methods(config: dict[str, Any], env: str) -> list[str]:
    """The simulator methods of this run (``methods.simulators``) that plan once more at ``env``'s
    reference budget: ``evaluation.reward.reference_methods`` where ``env`` has one, else none.
    Raises ConfigError naming the key for a method the run does not train."""
    listed = list(config["evaluation"]["reward"].get("reference_methods") or [])
    unknown = [m for m in listed if m not in config["methods"]["simulators"]]
    if unknown:
        raise ConfigError(f"config key 'evaluation.reward.reference_methods': {unknown} are not simulator methods of "
                         f"this run (methods.simulators: {config['methods']['simulators']})")
    return listed if reference_mpc_settings(config, env) is not None else []


def reference_budget_note(config: dict[str, Any], envs: list[str]) -> str:
    """The caption's sentence on the reference budget, e.g. ``" The rows marked 'reference budget'
    (True env+MPC, PerSim) plan at MountainCar 1000 x 50 (candidates x horizon); PerSim there with 2
    MPC episodes per seed."``; the last clause names the methods whose rows at the run's budget plan
    more episodes (``evaluation.reward.method_episodes``) than their reference rows do. "" when none
    of ``envs`` has a reference budget."""
    from persim.envs import get_spec

    reward = config["evaluation"]["reward"]
    budgets = [(e, m) for e in envs if (m := reference_mpc_settings(config, e)) is not None]
    if not budgets:
        return ""
    parts = [f"{get_spec(e).label} {m['n_candidates']} x {m['horizon']}"
             + ("" if get_spec(e).discrete else f" x {m['cem_iterations']} CEM it.") for e, m in budgets]
    methods = reward.get("reference_methods") or []
    labels = ["True env+MPC"] + [SIMULATOR_METHODS[m] for m in methods]
    own = [SIMULATOR_METHODS[m] for m in methods if any(mpc_episodes(config, m, e) != reward["n_episodes"]
                                                        for e, _ in budgets)]
    fewer = f"; {', '.join(own)} there with {reward['n_episodes']} MPC episodes per seed" if own else ""
    return (f" The rows marked 'reference budget' ({', '.join(labels)}) plan at {', '.join(parts)} "
            f"(candidates x horizon){fewer}.")
