"""Interval estimates in the style of rliable (Agarwal et al., NeurIPS 2021), on numpy/scipy only.

``rliable`` itself does not import with pandas 3, so the two pieces the reports need are written here:
the interquartile mean (IQM) and the stratified percentile bootstrap confidence interval.

Shapes: ``scores`` is ``[n_runs, n_tasks]`` (runs = seeds, tasks = e.g. test agents). A statistic maps
a stack ``[..., n_runs, n_tasks]`` to ``[...]`` (one number per stacked score matrix), so all bootstrap
replicates are scored in one vectorised call.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats

Statistic = Callable[[np.ndarray], np.ndarray]

TRIM = 0.25  # IQM drops the bottom and top 25%
MIN_CI_RUNS = 5  # fewer runs get no bootstrap CI: over 2 runs it is just their range (the paper ran 5 seeds)


def iqm(x: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray | float:
    """Interquartile mean: mean of the middle 50% of ``x`` along ``axis`` (all values if None).

    Uses ``scipy.stats.trim_mean(x, 0.25)``, which cuts ``int(0.25 * n)`` values from each end;
    with fewer than 4 values nothing is cut and the IQM equals the mean."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        raise ValueError("iqm: empty input")
    if isinstance(axis, tuple):  # trim_mean takes one axis: move the reduced axes to the end and merge them
        keep = [a for a in range(x.ndim) if a not in {ax % x.ndim for ax in axis}]
        x = np.transpose(x, keep + [a % x.ndim for a in axis]).reshape([x.shape[a] for a in keep] + [-1])
        axis = -1
    return stats.trim_mean(x, TRIM, axis=axis)


def mean_score(samples: np.ndarray) -> np.ndarray:
    """Mean over runs and tasks: ``[..., n_runs, n_tasks] -> [...]``."""
    return np.asarray(samples, dtype=float).mean(axis=(-2, -1))


def iqm_score(samples: np.ndarray) -> np.ndarray:
    """IQM over all runs x tasks (as rliable's aggregate IQM): ``[..., n_runs, n_tasks] -> [...]``."""
    return np.asarray(iqm(samples, axis=(-2, -1)))


def median_score(samples: np.ndarray) -> np.ndarray:
    """Median over runs and tasks: ``[..., n_runs, n_tasks] -> [...]``."""
    s = np.asarray(samples, dtype=float)
    return np.median(s.reshape(*s.shape[:-2], -1), axis=-1)


STATISTICS: dict[str, Statistic] = {"mean": mean_score, "iqm": iqm_score, "median": median_score}


def _resolve(statistic: str | Statistic) -> Statistic:
    if callable(statistic):
        return statistic
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; known: {sorted(STATISTICS)} or a callable")
    return STATISTICS[statistic]


def _check_scores(scores: np.ndarray) -> np.ndarray:
    s = np.asarray(scores, dtype=float)
    if s.ndim == 1:
        s = s[:, None]  # one task
    if s.ndim != 2 or s.shape[0] == 0 or s.shape[1] == 0:
        raise ValueError(f"scores must be [n_runs, n_tasks] with both > 0, got shape {np.shape(scores)}")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN/inf; every task needs the same number of finite runs")
    return s


def bootstrap_indices(n_runs: int, n_tasks: int, n_boot: int, seed: int) -> np.ndarray:
    """Run indices ``[n_boot, n_runs, n_tasks]`` drawn with replacement independently per task."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_runs, size=(n_boot, n_runs, n_tasks))


def stratified_bootstrap_ci(
    scores: np.ndarray, statistic: str | Statistic = "mean", n_boot: int = 2000, alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Point estimate and percentile ``1 - alpha`` CI of ``statistic`` over ``scores [n_runs, n_tasks]``.

    Stratified: each bootstrap replicate resamples the runs of every task with replacement, independently
    per task (tasks are never resampled). All ``n_boot`` replicates are built as one index array
    ``[n_boot, n_runs, n_tasks]``; ``seed`` fixes them, so tables are stable across re-runs.
    A 1-D ``scores`` is treated as one task. Returns ``(point, low, high)``."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    s = _check_scores(scores)
    stat = _resolve(statistic)
    n_runs, n_tasks = s.shape
    idx = bootstrap_indices(n_runs, n_tasks, n_boot, seed)
    samples = np.take_along_axis(s[None], idx, axis=1)  # [n_boot, n_runs, n_tasks]
    boot = np.asarray(stat(samples), dtype=float).reshape(n_boot)
    point = float(np.asarray(stat(s[None])).reshape(()))
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return point, float(low), float(high)


def seed_runs(frame: pd.DataFrame, column: str = "seed_returns", value_name: str = "seed_return") -> pd.DataFrame:
    """One row per seed from a reward result whose ``column`` holds ``"x;y;..."`` per-seed mean returns.

    Adds ``seed`` (0-based position in the list) and ``value_name`` (float); drops ``column``."""
    if column not in frame.columns:
        raise ValueError(f"seed_runs: column {column!r} not in frame (columns: {list(frame.columns)})")
    parts = frame[column].astype(str).str.split(";")
    out = frame.drop(columns=[column]).assign(**{value_name: parts}).explode(value_name, ignore_index=False)
    out["seed"] = out.groupby(level=0).cumcount()
    values = pd.to_numeric(out[value_name].str.strip(), errors="coerce")
    if values.isna().any():
        raise ValueError(f"seed_runs: unparseable entries in {column!r}: "
                         f"{sorted(set(out.loc[values.isna(), value_name].astype(str)))[:5]}")
    out[value_name] = values.astype(float)
    return out.reset_index(drop=True)


def interval_table(
    frame: pd.DataFrame, group_cols: list[str], score_col: str, run_col: str, task_col: str | None = None,
    n_boot: int = 2000, alpha: float = 0.05, seed: int = 0,
) -> pd.DataFrame:
    """Per group: n_runs, n_tasks, mean, std, IQM, and stratified-bootstrap CIs of the mean and the IQM
    (NaN for a group of fewer than ``MIN_CI_RUNS`` runs: a bootstrap over 2 seeds only restates them).

    ``frame`` is long: one row per (group, [task,] run) with the score in ``score_col``. Without
    ``task_col`` each group is one task ``[n_runs, 1]``; with it the group's scores are pivoted to
    ``[n_runs, n_tasks]`` (every task must have the same runs). ``std`` is the population std over
    all of the group's scores (ddof=0, as the paper's "± std" over 5 seeds is assumed to be)."""
    missing = [c for c in [*group_cols, score_col, run_col, *([task_col] if task_col else [])]
               if c not in frame.columns]
    if missing:
        raise ValueError(f"interval_table: columns {missing} not in frame (columns: {list(frame.columns)})")
    rows = []
    for key, g in frame.groupby(group_cols, sort=True, dropna=False):
        scores = _group_matrix(g, score_col, run_col, task_col, key)
        if scores.shape[0] < MIN_CI_RUNS:
            point_m, point_i = (float(np.asarray(f(scores[None])).reshape(())) for f in (mean_score, iqm_score))
            lo_m = hi_m = lo_i = hi_i = np.nan
        else:
            point_m, lo_m, hi_m = stratified_bootstrap_ci(scores, "mean", n_boot, alpha, seed)
            point_i, lo_i, hi_i = stratified_bootstrap_ci(scores, "iqm", n_boot, alpha, seed)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(group_cols, key)), "n_runs": scores.shape[0], "n_tasks": scores.shape[1],
                     "mean": point_m, "std": float(scores.std()), "iqm": point_i,
                     "mean_ci_low": lo_m, "mean_ci_high": hi_m, "iqm_ci_low": lo_i, "iqm_ci_high": hi_i})
    return pd.DataFrame(rows)


def _group_matrix(g: pd.DataFrame, score_col: str, run_col: str, task_col: str | None, key) -> np.ndarray:
    if task_col is None:
        if g[run_col].duplicated().any():
            raise ValueError(f"interval_table: group {key}: duplicate runs in {run_col!r}; pass task_col?")
        return g[score_col].to_numpy(dtype=float)[:, None]
    if g.duplicated([run_col, task_col]).any():
        raise ValueError(f"interval_table: group {key}: duplicate ({run_col}, {task_col}) rows")
    wide = g.pivot(index=run_col, columns=task_col, values=score_col)
    if wide.isna().any().any():
        raise ValueError(f"interval_table: group {key}: tasks have different runs (stratified bootstrap needs "
                         "the same number of runs per task)")
    return wide.to_numpy(dtype=float)
