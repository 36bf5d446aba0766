"""How long episodes are expected to run, before anything has run: priors from the paper.

Datasets: a policy-driven dataset's trajectories are as long, as a fraction of the cap, as the
paper's Table 5 says for that env and behaviour (its ``mean_trajectory_length_all_agents``: e.g.
MountainCar ``pure`` 114 of 500 steps, CartPole ``pure_eps40`` 94 of 200); a behaviour Table 5 lacks
counts the cap. Uniform-random trajectories are measured by the calibration instead.

MPC and policy evaluations:
MountainCar costs -1 per step until the goal and CartPole earns +1 per step until the pole falls, so
on these two envs a published return IS an episode length (App. E.1: caps of 500 and 200 steps).
The reward evaluation runs its episodes in lock step and drops each one when it ends, so its work is
the sum of the episodes' lengths, not episodes x cap. The prior is the mean length, as a fraction of
the paper's cap, of the method's own episodes in the paper's reward table of that env (every agent
and dataset; e.g. MountainCar: PE-TS CaDM 0.66, True env + MPC 0.25); a method the paper did not run
(a user's own, an unseen-agent variant, PerSim-BCQ-5) gets the mean over the methods of its kind the
paper did run (planning: True env + MPC, PerSim and the two CaDMs; policy sets: BCQ, CQL, MOReL).
HalfCheetah never ends early (fraction 1). It is a prior: a run whose models plan worse than the
paper's runs longer MountainCar episodes and shorter CartPole ones, and ``persim.cost --check``
shows by how much.
"""
from __future__ import annotations

from functools import lru_cache

RETURN_PER_STEP = {"mountaincar": -1.0, "cartpole": 1.0}  # the env's reward for every step
PAPER_CAP = {"mountaincar": 500, "cartpole": 200}         # App. E.1
REWARD_TABLE = {"mountaincar": 9, "cartpole": 10}           # the paper's reward table of each env
DATASET_TABLE, DATASET_LENGTH = 5, "mean_trajectory_length_all_agents"


@lru_cache(maxsize=None)
def dataset_length_fraction(env: str, behaviour: str) -> float:
    """Expected trajectory length / cap of ``env``'s ``behaviour`` dataset (in (0, 1]; 1 where the
    paper's Table 5 has no such row or episodes run to the cap)."""
    if env not in PAPER_CAP:
        return 1.0
    from persim.reporting.paper import load_paper_tables
    paper = load_paper_tables()
    rows = paper[(paper["table"] == DATASET_TABLE) & (paper["env"] == env) & (paper["dataset"] == behaviour)
                 & (paper["metric"] == DATASET_LENGTH)]
    return 1.0 if rows.empty else _share_of_cap(env, rows["mean"].iloc[0])


@lru_cache(maxsize=None)
def length_fraction(env: str, method: str | None = None) -> float:
    """Expected episode length / cap on ``env`` (in (0, 1]; 1 where episodes run to the cap) of
    ``method``: a planning method (a simulator's name, or ``true_mpc``) or a policy set (BCQ, CQL,
    MOReL), from its cells in the paper's reward table of ``env``. None or a method without paper
    cells: the mean over the paper's methods of its kind (planning methods, or policy sets)."""
    if env not in RETURN_PER_STEP:
        return 1.0
    from persim.methods import POLICY_METHODS, SIMULATOR_METHODS, TRUE_MPC_LABEL
    from persim.reporting.paper import load_paper_tables
    labels = POLICY_METHODS if method in POLICY_METHODS else {"true_mpc": TRUE_MPC_LABEL, **SIMULATOR_METHODS}
    paper = load_paper_tables()
    cells = paper[(paper["table"] == REWARD_TABLE[env]) & (paper["env"] == env)
                  & paper["method"].isin(list(labels.values()))]
    if cells.empty:
        raise ValueError(f"persim.cost: the paper tables have no reward cells of {sorted(labels.values())} "
                         f"in table {REWARD_TABLE[env]} for env {env!r}")
    per_method = cells.groupby("method")["mean"].mean() / RETURN_PER_STEP[env]  # mean length per method
    return _share_of_cap(env, per_method.get(labels.get(method or ""), per_method.mean()))


def _share_of_cap(env: str, length: float) -> float:
    """A published mean length (steps) as a share of the paper's cap, kept within [1 step, the cap]."""
    return float(min(1.0, max(length / PAPER_CAP[env], 1.0 / PAPER_CAP[env])))
