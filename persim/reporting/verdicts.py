"""The verdict rules of the comparison: one of our values against a reference value (the paper's cell,
or the authors' stored output), and the columns of a judged cell.

* Rewards: ``difference = ours - reference``. "reproduced" if ``|difference| <= tolerance``; the
  paper's cells use ``tolerance = max(2 x paper_std, 1 reward unit)`` (:func:`reward_verdicts`): the
  floor keeps a printed "±0.0" (all the paper's seeds equal, e.g. CartPole's 200) from asking for an
  exact match, and the tolerance never shrinks as the paper's std grows. Otherwise "better" if ours
  is above, else "worse".
* Prediction RMSE: ``ratio = ours / reference``. "reproduced" within a factor 2, "better" below half,
  "worse" above twice. The paper prints RMSE to 3 decimals (three PerSim cells read "0.000"), so by
  default the factor-2 band is taken around the printed value's rounding interval
  ``[paper - 0.0005, paper + 0.0005]``; ``decimals=None`` gives the literal rule ``0.5 <= ratio <= 2``.
  A reference of 0 has ``ratio = inf``.
* An absent reference gives "no paper value", an absent value of ours "missing".

Arrays are ``[n]`` floats with NaN for "absent"; verdicts are object arrays of strings.
"""
from __future__ import annotations

import numpy as np

VERDICTS = ("reproduced", "better", "worse", "missing", "failed", "no paper value")
COMPARED = ("reproduced", "better", "worse")
REWARD_STD_FACTOR = 2.0
REWARD_FLOOR = 1.0  # the smallest reward tolerance: 1 reward unit (one step of CartPole / MountainCar)
RMSE_FACTOR = 2.0
RMSE_DECIMALS = 3
BOUNDARY_EPS = 1e-9  # relative slack so that exact boundaries (2x, 2 std) are not lost to float rounding

COLUMNS = ["table", "env", "dataset", "method", "agent", "metric", "ours", "ours_std", "paper", "paper_std",
           "ratio", "difference", "tolerance", "ours_r2", "paper_r2", "verdict"]  # a judged cell


def reward_verdicts(ours: np.ndarray, paper: np.ndarray, paper_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Verdicts and absolute tolerances of reward cells against the paper's mean and std."""
    ours, paper, std = (np.asarray(a, dtype=float) for a in (ours, paper, paper_std))
    tol = np.maximum(REWARD_STD_FACTOR * np.nan_to_num(std), REWARD_FLOOR)
    return reward_verdicts_within(ours, paper, tol), np.where(np.isnan(paper), np.nan, tol)


def reward_verdicts_within(ours: np.ndarray, reference: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """Verdicts of reward values against a reference with a given absolute tolerance: reproduced
    within it, else better (above) or worse."""
    ours, reference, tol = (np.asarray(a, dtype=float) for a in (ours, reference, tolerance))
    diff = ours - reference
    with np.errstate(invalid="ignore"):
        ok = np.abs(diff) <= tol * (1 + BOUNDARY_EPS)
        verdict = np.where(ok, "reproduced", np.where(diff > 0, "better", "worse")).astype(object)
    return _absent(verdict, ours, reference)


def rmse_verdicts(ours: np.ndarray, paper: np.ndarray, decimals: int | None = RMSE_DECIMALS) -> np.ndarray:
    """Verdicts of RMSE cells (lower is better); ``decimals``: see the module docstring."""
    ours, paper = np.asarray(ours, dtype=float), np.asarray(paper, dtype=float)
    half = 0.0 if decimals is None else 0.5 * 10.0 ** (-decimals)
    low, high = np.maximum(paper - half, 0.0) / RMSE_FACTOR, (paper + half) * RMSE_FACTOR
    with np.errstate(invalid="ignore"):
        verdict = np.where(ours < low * (1 - BOUNDARY_EPS), "better",
                           np.where(ours > high * (1 + BOUNDARY_EPS), "worse", "reproduced")).astype(object)
    return _absent(verdict, ours, paper)


def rmse_ratio(ours: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """``ours / paper`` (inf where the paper's RMSE is 0 and ours is not; NaN where both are 0 or absent)."""
    ours, paper = np.asarray(ours, dtype=float), np.asarray(paper, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(paper == 0, np.where(ours > 0, np.inf, np.nan), ours / paper)


def _absent(verdict: np.ndarray, ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    verdict[np.isnan(reference)] = "no paper value"
    verdict[np.isnan(ours)] = "missing"
    return verdict
