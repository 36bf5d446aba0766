"""The True env + MPC row at a reference budget (config ``evaluation.reward.reference_mpc``).

A profile whose MPC rows plan at a reduced budget (quick: MountainCar 100 x 25) can plan True env +
MPC once more at the paper's (1000 x 50), a row of its own that checks the planner against the
paper's True env + MPC cells; the row at the run's budget stays the ceiling of the MPC rows. Only
the workflow and the table captions read this module (no job script imports it), so adding a
reference budget reruns no training or evaluation job.
"""
from __future__ import annotations

from typing import Any

from persim.config import mpc_settings


def reference_mpc_settings(config: dict[str, Any], env: str) -> dict[str, Any] | None:
    """The planner settings of ``env``'s True env + MPC row at the reference budget: the run's
    (:func:`persim.config.mpc_settings`) updated with ``evaluation.reward.reference_mpc.<env>``;
    None where the run has no such row for ``env``."""
    override = (config["evaluation"]["reward"].get("reference_mpc") or {}).get(env)
    return None if override is None else {**mpc_settings(config, env), **override}


def reference_budget_note(config: dict[str, Any], envs: list[str]) -> str:
    """The caption's sentence on the reference budget, e.g. ``" True env+MPC (reference budget) plans
    at MountainCar 1000 x 50 (candidates x horizon)."``; "" when none of ``envs`` has one."""
    from persim.envs import get_spec

    budgets = [(get_spec(e), m) for e in envs if (m := reference_mpc_settings(config, e)) is not None]
    if not budgets:
        return ""
    parts = [f"{spec.label} {m['n_candidates']} x {m['horizon']}"
             + ("" if spec.discrete else f" x {m['cem_iterations']} CEM it.") for spec, m in budgets]
    return f" True env+MPC (reference budget) plans at {', '.join(parts)} (candidates x horizon)."
