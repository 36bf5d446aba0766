"""Prediction evaluation (paper §5.2, Tables 1 and 6-8).

For each test agent, R rollouts of the (unseen) test policy are run in the true environment for
``warmup + horizon`` steps. A simulator then starts from the true state after the warm-up and
predicts the next ``horizon`` states open loop from the true actions. Per rollout we compute the
RMSE over all predicted steps and state coordinates (raw units) and the variance-weighted R²;
the tables report the mean RMSE and the median R² over rollouts.

Rollouts run on the unwrapped dynamics and are not cut at termination, so every rollout has the
same length (MountainCar's low-gravity agents reach the goal within 60 steps).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import torch

from persim.envs import make
from persim.evaluation.history import context_length, rollout_window


class Simulator(Protocol):
    """What the evaluators need of a learned model."""

    def predict(self, agents, states, actions) -> torch.Tensor:
        """Next states ``[B, D]`` for agent ids ``[B]``, states ``[B, D]``, actions ``[B]``/``[B, A]``."""


@dataclass
class TestRollouts:
    """True rollouts of one agent: states ``[R, L+1, D]``, actions ``[R, L]`` or ``[R, L, A]``."""

    states: np.ndarray
    actions: np.ndarray


def collect_rollouts(env_name: str, covariates: dict[str, float], act: Callable[[np.ndarray], np.ndarray],
                     n_rollouts: int, length: int, seed: int) -> TestRollouts:
    """Run ``n_rollouts`` episodes of ``act`` for exactly ``length`` steps, all in lock step."""
    envs = [make(env_name, **covariates).unwrapped for _ in range(n_rollouts)]
    seeds = np.random.SeedSequence(seed).generate_state(n_rollouts).tolist()
    obs = np.stack([env.reset(seed=int(s))[0] for env, s in zip(envs, seeds)])
    states, actions = [obs], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping past termination is intended here
        for _ in range(length):
            a = np.asarray(act(obs.astype(np.float32)))
            obs = np.stack([env.step(a[i] if a.ndim > 1 else int(a[i]))[0] for i, env in enumerate(envs)])
            states.append(obs)
            actions.append(a)
    return TestRollouts(np.stack(states, 1).astype(np.float32), np.stack(actions, 1))


@torch.no_grad()
def predict_open_loop(sim: Simulator, agent_id: int, rollouts: TestRollouts, warmup: int, horizon: int) -> np.ndarray:
    """Predicted states ``[R, horizon, D]``: start from the true state at ``warmup``, feed predictions back.

    A simulator that conditions on context (CaDM) gets the last K true warm-up transitions, fixed
    over the open-loop horizon."""
    r = rollouts.states.shape[0]
    agents = torch.full((r,), agent_id, dtype=torch.int64)
    state = torch.as_tensor(rollouts.states[:, warmup])
    kwargs = {}
    if context_length(sim):
        window = rollout_window(rollouts.states, rollouts.actions, warmup, context_length(sim))
        kwargs["context"] = window.context(sim)
    preds = []
    for k in range(horizon):
        action = torch.as_tensor(rollouts.actions[:, warmup + k])
        state = torch.as_tensor(sim.predict(agents, state, action, **kwargs)).float().cpu()
        preds.append(state)
    return torch.stack(preds, 1).numpy()


def rmse_r2(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-rollout RMSE and variance-weighted R² of ``pred``/``true`` ``[R, T, D]`` (both ``[R]``)."""
    err = np.square(pred - true)
    rmse = np.sqrt(err.mean(axis=(1, 2)))
    ss_res = err.sum(axis=(1, 2))
    ss_tot = np.square(true - true.mean(axis=1, keepdims=True)).sum(axis=(1, 2))
    r2 = 1.0 - ss_res / np.maximum(ss_tot, 1e-12)
    return rmse, r2


def evaluate_prediction(sim: Simulator, agent_id: int, rollouts: TestRollouts, warmup: int = 10,
                        horizon: int = 50) -> dict[str, float]:
    """Mean RMSE, its std, median R² over the rollouts of one agent."""
    pred = predict_open_loop(sim, agent_id, rollouts, warmup, horizon)
    rmse, r2 = rmse_r2(pred, rollouts.states[:, warmup + 1: warmup + 1 + horizon])
    return {"rmse": float(rmse.mean()), "rmse_std": float(rmse.std()), "r2_median": float(np.median(r2)),
            "n_rollouts": int(len(rmse))}
