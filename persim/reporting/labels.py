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
AUGMENTATION_TABLE = 3
SCARCITY_TABLE: dict[str, int] = {"mountaincar": 14, "cartpole": 15, "halfcheetah": 16}  # fewer training agents
SCARCITY_TABLES = tuple(SCARCITY_TABLE.values())
PREDICTION_METHODS: tuple[str, ...] = labels(SIMULATOR)  # Tables 1, 6-8
REWARD_METHODS: tuple[str, ...] = labels(SIMULATOR) + labels(POLICY)  # Tables 2, 9-11 (and True env+MPC)
TRUE_MPC = TRUE_MPC_LABEL
# A row planned once more at the run's reference budget (persim.reference_budget): True env + MPC, and
# the simulators listed in config evaluation.reward.reference_methods (e.g. "PerSim (reference budget)").
REFERENCE_SUFFIX = " (reference budget)"
TRUE_MPC_REFERENCE = TRUE_MPC + REFERENCE_SUFFIX
REFERENCE_NOTE = ("Rows marked 'reference budget': the same method planned once more at the run's reference "
                  "budget (config evaluation.reward.reference_mpc, e.g. the paper's), each judged against the "
                  "paper's cells of its method; True env+MPC (reference budget) is the ceiling of those rows, "
                  "True env+MPC the ceiling of the rows planned at the run's budget.")


def reference_label(label: str) -> str:
    """The label of ``label``'s row at the reference budget, e.g. ``"PerSim (reference budget)"``."""
    return label + REFERENCE_SUFFIX


def base_label(label: str) -> str:
    """The method a row's label names, without the reference-budget suffix (``label`` itself otherwise)."""
    return label[:-len(REFERENCE_SUFFIX)] if label.endswith(REFERENCE_SUFFIX) else label


def is_reference(frame: pd.DataFrame) -> np.ndarray:
    """Bool ``[n]``: the rows of ``frame`` (any frame with a ``method`` column) planned at the reference
    budget. They repeat the paper's cells of their method and so are kept out of Tables 1-2, the
    claims and every count of the paper's cells."""
    return frame["method"].astype(str).str.endswith(REFERENCE_SUFFIX).to_numpy()

