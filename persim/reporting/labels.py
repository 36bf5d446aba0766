"""Names the tables print, defined once: env and dataset labels, table numbers, method labels.

Method labels come from the registry (:mod:`persim.methods`), env labels from the env specs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from persim.envs.specs import SPECS
from persim.methods import POLICY, SIMULATOR, TRUE_MPC_LABEL, labels

ENV_LABELS: dict[str, str] = {name: spec.label for name, spec in SPECS.items()}
DATASET_LABELS: dict[str, str] = {"pure": "Pure", "random": "Random", "pure_eps20": "Pure-eps-20",
                                  "pure_eps40": "Pure-eps-40"}
PREDICTION_TABLES: dict[str, int] = {"mountaincar": 6, "cartpole": 7, "halfcheetah": 8}
REWARD_TABLES: dict[str, int] = {"mountaincar": 9, "cartpole": 10, "halfcheetah": 11}
MAIN_TABLE: dict[str, int] = {"prediction": 1, "reward": 2}
PREDICTION_METHODS: tuple[str, ...] = labels(SIMULATOR)  # Tables 1, 6-8
REWARD_METHODS: tuple[str, ...] = labels(SIMULATOR) + labels(POLICY)  # Tables 2, 9-11 (and True env+MPC)
TRUE_MPC = TRUE_MPC_LABEL
# The same planner on the true dynamics at the run's reference budget (persim.reference_budget)
TRUE_MPC_REFERENCE = "True env+MPC (reference budget)"
REFERENCE_NOTE = (f"{TRUE_MPC_REFERENCE}: the same planner on the true dynamics at the run's reference budget "
                  "(config evaluation.reward.reference_mpc, e.g. the paper's), judged against the paper's True "
                  "env+MPC; not the ceiling of the MPC rows, which plan at the run's budget.")


def is_reference(frame: pd.DataFrame) -> np.ndarray:
    """Bool ``[n]``: the rows of ``frame`` (any frame with a ``method`` column) that belong to the True
    env + MPC row at the reference budget, which repeats the paper's True env + MPC cells and so is
    kept out of Table 2, the claims and every count of the paper's cells."""
    return (frame["method"] == TRUE_MPC_REFERENCE).to_numpy()
