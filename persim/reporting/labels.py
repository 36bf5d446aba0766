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
AUGMENTATION_TABLE = 3  # its BCQ / CQL -P / -A rows are Tables 9-11's `random` cells again
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


CELL_KEY = ["env", "dataset", "method", "agent"]


def overall_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The rows of a comparison (:func:`persim.reporting.compare.compare`) that the "overall" count holds:
    every paper cell once. Left out: Tables 1-2 (a selection of Tables 6-11's cells) and the rows of
    Table 3 whose env, dataset, method and agent are also a cell of Tables 9-11 (its BCQ-P / -A and CQL-P /
    -A rows: the paper prints the same numbers in both tables, and ours come from the same result files).
    ``table`` may be int or str (a comparison read back from CSV)."""
    table = cells["table"].astype(str)
    key = pd.MultiIndex.from_frame(cells[CELL_KEY].astype(str))
    in_reward_tables = table.isin({str(t) for t in REWARD_TABLES.values()}).to_numpy()
    repeat = (table == str(AUGMENTATION_TABLE)).to_numpy() & key.isin(key[in_reward_tables])
    main = table.isin({str(t) for t in MAIN_TABLE.values()}).to_numpy()
    return cells[~main & ~repeat]
