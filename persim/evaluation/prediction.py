"""Prediction evaluation (paper §5.2, Tables 1 and 6-8).

For each test agent, R rollouts of the (unseen) test policy are run in the true environment for
``warmup + horizon`` steps. A simulator then starts from the true state after the warm-up and
predicts the next ``horizon`` states open loop from the true actions. Per rollout we compute the
RMSE over the predicted steps and state coordinates (raw units) and the variance-weighted R²;
the tables report the mean RMSE and the median R² over rollouts.

As in the authors' evaluation (their ``test_simulators_ens`` stops a rollout at ``done`` and
averages with ``nanmean``), a rollout counts only up to its first termination (CartPole's pole
falls, MountainCar's car reaches the goal), the terminal state included: the states after it lie
outside every training trajectory. The env is stepped on past it so all rollouts keep the same
shape and are predicted in one batched pass; the steps past termination are masked out of the
metrics. A rollout that terminates within the warm-up has nothing to score and is dropped.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from persim.data.rollout import PolicyActor, rollout
from persim.envs import make
from persim.evaluation.history import rollout_window
from persim.protocols import Simulator


@dataclass
class TestRollouts:
    """True rollouts of one agent: states ``[R, L+1, D]``, actions ``[R, L]`` or ``[R, L, A]``, and
    ``terminated [R, L]`` (bool: the env ended the episode with that step; None: never)."""

    states: np.ndarray
    actions: np.ndarray
    terminated: np.ndarray | None = None

    def valid_steps(self) -> np.ndarray:
        """``[R, L]`` bool: the steps up to and including each rollout's first termination."""
        if self.terminated is None:
            return np.ones(self.actions.shape[:2], dtype=bool)
        term = np.asarray(self.terminated, dtype=bool)
        if term.shape != self.actions.shape[:2]:
            raise ValueError(f"TestRollouts: terminated has shape {term.shape}, expected {self.actions.shape[:2]}")
        return np.cumsum(term, axis=1) - term == 0


def save_test_rollouts(path: str | Path, rollouts: dict[int, TestRollouts]) -> None:
    """Write every test agent's true rollouts to one ``.npz``: arrays ``states_<agent_id>``,
    ``actions_<agent_id>`` and ``terminated_<agent_id>`` (the layout :func:`load_test_rollouts` reads)."""
    arrays = {}
    for aid, ro in rollouts.items():
        arrays.update({f"states_{aid}": ro.states, f"actions_{aid}": ro.actions, f"terminated_{aid}": ro.terminated})
    np.savez_compressed(path, **arrays)


def load_test_rollouts(path: str | Path, agents: pd.DataFrame) -> list[tuple[int, int, TestRollouts]]:
    """Per test agent of ``agents`` (the run's ``agents.parquet``; rows with ``test_agent > 0``, in
    their order): ``(test_agent, agent_id, TestRollouts)`` read from the ``.npz`` that
    :func:`save_test_rollouts` wrote."""
    rows = []
    with np.load(path) as data:
        for test_agent, aid in agents.query("test_agent > 0")[["test_agent", "agent_id"]].itertuples(index=False):
            key = f"states_{int(aid)}"
            if key not in data:
                raise ValueError(f"{path}: no rollouts of agent_id {int(aid)} (test agent {int(test_agent)}): "
                                 "the file does not match the run's agents.parquet")
            rows.append((int(test_agent), int(aid), TestRollouts(data[key], data[f"actions_{int(aid)}"],
                                                                 data[f"terminated_{int(aid)}"])))
    return rows


def collect_rollouts(env_name: str, covariates: dict[str, float], act: Callable[[np.ndarray], np.ndarray],
                     n_rollouts: int, length: int, seed: int) -> TestRollouts:
    """Run ``n_rollouts`` episodes of ``act`` for exactly ``length`` steps, all in lock step,
    recording where each episode terminated (the env is stepped on past it)."""
    envs = [make(env_name, **covariates).unwrapped for _ in range(n_rollouts)]
    seeds = np.random.SeedSequence(seed).generate_state(n_rollouts).tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping past termination is intended here
        tr = rollout(envs, seeds, PolicyActor([act]), n_steps=length)
    d = tr.obs.shape[1]
    obs, next_obs = tr.obs.reshape(n_rollouts, length, d), tr.next_obs.reshape(n_rollouts, length, d)
    states = np.concatenate([obs[:, :1], next_obs], axis=1)
    actions = tr.actions.reshape(n_rollouts, length, *tr.actions.shape[1:])
    return TestRollouts(states.astype(np.float32), actions, tr.terminated.reshape(n_rollouts, length))


FEEDBACK = ("members", "mean")


@torch.no_grad()
def predict_open_loop(sim: Simulator, agent_id: int, rollouts: TestRollouts, warmup: int, horizon: int,
                      feedback: str = "members") -> np.ndarray:
    """Predicted states ``[R, horizon, D]`` from the true state at ``warmup`` under the true actions.

    ``feedback="members"`` (the authors' protocol): each ensemble member rolls forward on its own
    predictions and the M member trajectories are averaged; ``"mean"``: the ensemble-mean prediction
    is fed back at every step. A simulator that conditions on context (CaDM) gets the last K true
    warm-up transitions, fixed over the open-loop horizon."""
    if feedback not in FEEDBACK:
        raise ValueError(f"evaluation.prediction.feedback must be one of {FEEDBACK}, got {feedback!r}")
    r, d = rollouts.states.shape[0], rollouts.states.shape[2]
    m = sim.n_members if feedback == "members" else 1
    agents = torch.full((m * r,), agent_id, dtype=torch.int64)
    state = torch.as_tensor(rollouts.states[:, warmup]).repeat(m, 1)  # [m*R, D], member-major
    context = None
    if sim.context_length:
        context = rollout_window(rollouts.states, rollouts.actions, warmup, sim.context_length).context(sim)
        context = context.repeat(m, *([1] * (context.dim() - 1)))
    own = torch.arange(m)
    preds = []
    for k in range(horizon):
        action = torch.as_tensor(rollouts.actions[:, warmup + k])
        action = action.repeat(m, *([1] * (action.dim() - 1)))
        if feedback == "mean":
            state = torch.as_tensor(sim.predict(agents, state, action, context=context)).float().cpu()
        else:  # every member on every row, then each member's own rows: [M, M*R, D] -> [M, R, D]
            out = torch.as_tensor(sim.member_predictions(agents, state, action, context)).float().cpu()
            state = out.view(m, m, r, d)[own, own].reshape(m * r, d)
        preds.append(state.view(m, r, d).mean(0))
    return torch.stack(preds, 1).numpy()


def rmse_r2(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-rollout RMSE and variance-weighted R² of ``pred``/``true`` ``[R, T, D]`` (both ``[R]``).

    ``valid [R, T]`` (bool) restricts each rollout to its valid steps; a rollout without one gets
    NaN for both, one with a single valid step NaN for R² (no variance to explain)."""
    if valid is None:
        valid = np.ones(pred.shape[:2], dtype=bool)
    n_steps = valid.sum(1)
    mask = valid[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where(mask, np.square(pred - true), 0.0)
        rmse = np.sqrt(err.sum(axis=(1, 2)) / (n_steps * pred.shape[2]))
        mean = np.where(mask, true, 0.0).sum(1, keepdims=True) / n_steps[:, None, None]
        ss_tot = np.where(mask, np.square(true - mean), 0.0).sum(axis=(1, 2))
        r2 = 1.0 - err.sum(axis=(1, 2)) / np.maximum(ss_tot, 1e-12)
    return rmse, np.where(n_steps >= 2, r2, np.nan)


def scored_prediction(sim: Simulator, agent_id: int, rollouts: TestRollouts, warmup: int, horizon: int,
                      feedback: str = "members") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the prediction test scores: the open-loop prediction ``[R, H, D]``
    (:func:`predict_open_loop`), the true states it is scored against ``[R, H, D]`` and the valid
    steps ``[R, H]`` (bool, up to each rollout's first termination)."""
    pred = predict_open_loop(sim, agent_id, rollouts, warmup, horizon, feedback)
    true = rollouts.states[:, warmup + 1: warmup + 1 + horizon]
    return pred, true, rollouts.valid_steps()[:, warmup:warmup + horizon]


def evaluate_prediction(sim: Simulator, agent_id: int, rollouts: TestRollouts, warmup: int = 10,
                        horizon: int = 50, feedback: str = "members") -> dict[str, float]:
    """Mean RMSE, its std and median R² over the rollouts of one agent that reach the predicted
    part; ``n_rollouts`` counts those, ``n_cut`` the ones of them cut short by termination and
    ``n_dropped`` the ones that terminated within the warm-up (all NaN if every rollout did);
    ``feedback``: see :func:`predict_open_loop`."""
    pred, true, valid = scored_prediction(sim, agent_id, rollouts, warmup, horizon, feedback)
    rmse, r2 = rmse_r2(pred, true, valid)
    kept = valid.any(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no rollout (or R²) to score gives NaN
        return {"rmse": float(np.mean(rmse[kept])), "rmse_std": float(np.std(rmse[kept])),
                "r2_median": float(np.nanmedian(r2[kept])), "n_rollouts": int(kept.sum()),
                "n_cut": int((kept & ~valid.all(1)).sum()), "n_dropped": int((~kept).sum())}


def escaped_rollouts(pred: np.ndarray, true: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``[R]`` bool: rollouts whose prediction ``[R, T, D]`` leaves, at some valid step, the range the
    true states ``[R, T, D]`` of all valid steps span, widened by that span on both sides, in some
    coordinate (a member that ran away open loop: one such rollout can dominate a mean RMSE). A
    coordinate the true states never move in (span 0) counts any deviation."""
    if not valid.any():
        return np.zeros(pred.shape[0], dtype=bool)
    seen = true[valid]                                   # [n_valid, D]
    lo, hi = seen.min(0), seen.max(0)
    span = hi - lo
    with np.errstate(invalid="ignore"):
        out = (pred < lo - span) | (pred > hi + span) | ~np.isfinite(pred)
    return (out.any(-1) & valid).any(-1)


def rollout_spread(sim: Simulator, agent_id: int, rollouts: TestRollouts, warmup: int = 10, horizon: int = 50,
                   feedback: str = "members") -> dict[str, float]:
    """How the per-rollout RMSEs of one agent spread (the rollouts :func:`evaluate_prediction` scores):
    ``rmse`` (their mean, the tables' figure), ``rmse_median``, ``rmse_max``, ``n_rollouts`` and
    ``n_escaped`` (see :func:`escaped_rollouts`). A mean far above the median with escaped rollouts
    is a few runaway predictions, not a uniformly poor model."""
    pred, true, valid = scored_prediction(sim, agent_id, rollouts, warmup, horizon, feedback)
    rmse, _ = rmse_r2(pred, true, valid)
    kept = valid.any(1)
    if not kept.any():
        nan = float("nan")
        return {"rmse": nan, "rmse_median": nan, "rmse_max": nan, "n_rollouts": 0, "n_escaped": 0}
    with np.errstate(over="ignore", invalid="ignore"):
        return {"rmse": float(np.mean(rmse[kept])), "rmse_median": float(np.median(rmse[kept])),
                "rmse_max": float(np.max(rmse[kept])), "n_rollouts": int(kept.sum()),
                "n_escaped": int(escaped_rollouts(pred, true, valid)[kept].sum())}


def coordinate_errors(sim: Simulator, agent_id: int, rollouts: TestRollouts, warmup: int = 10, horizon: int = 50,
                      feedback: str = "members") -> dict[str, np.ndarray]:
    """Where a prediction error sits: per state coordinate (each ``[D]``, raw units), pooled over every
    valid step of every rollout of one agent:

    * ``open_loop``: RMSE of the open-loop prediction scored by :func:`evaluate_prediction`;
    * ``one_step``: RMSE of one-step predictions from the true states over the same steps (how good
      the model is locally; the gap to ``open_loop`` is error compounding over the horizon);
    * ``state_std``: std of the true states over those steps (the scale each coordinate moves on).
    """
    pred, true, valid = scored_prediction(sim, agent_id, rollouts, warmup, horizon, feedback)
    r, h, d = true.shape
    states = torch.as_tensor(rollouts.states[:, warmup:warmup + h]).reshape(r * h, d)
    actions = torch.as_tensor(rollouts.actions[:, warmup:warmup + h])
    actions = actions.reshape(r * h, *actions.shape[2:])
    agents = torch.full((r * h,), agent_id, dtype=torch.int64)
    context = None
    if sim.context_length:  # CaDM: the warm-up context, as in the open-loop prediction
        context = rollout_window(rollouts.states, rollouts.actions, warmup, sim.context_length).context(sim)
        context = context.repeat_interleave(h, 0)
    with torch.no_grad():
        one = torch.as_tensor(sim.predict(agents, states, actions, context=context)).float().cpu().numpy()
    mask = valid[..., None]
    n = np.maximum(valid.sum(), 1)

    def rmse(x: np.ndarray) -> np.ndarray:
        return np.sqrt(np.where(mask, np.square(x - true), 0.0).sum((0, 1)) / n)

    mean = np.where(mask, true, 0.0).sum((0, 1)) / n
    return {"open_loop": rmse(pred), "one_step": rmse(one.reshape(r, h, d)), "state_std": rmse(np.broadcast_to(mean, true.shape))}
