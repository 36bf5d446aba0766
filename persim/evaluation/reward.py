"""Reward evaluation (paper §5.3, Tables 2 and 9-11): MPC acting in the true environment.

E episodes of one agent run in lock step; at every step the planner chooses actions for all
still-running episodes in one batched call. Returns are counted as the env counts them
(MountainCar -1 per step up to 500, CartPole +1 per step up to 200, HalfCheetah its 1000-step return).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from persim.envs import make
from persim.envs.torch_dynamics import batched_step
from persim.planning.mpc import StepFn
from persim.progress import Progress

StepFactory = Callable[[np.ndarray], StepFn]  # active episode indices [E'] -> step_fn for them


def true_step_factory(env_name: str, covariates: dict[str, float], n_candidates: int) -> StepFactory:
    """Step functions on the batched true dynamics (MountainCar, CartPole) for the "True env + MPC" row."""
    cov = torch.tensor([list(covariates.values())], dtype=torch.float32)

    def factory(active: np.ndarray) -> StepFn:
        def step(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            c = cov.expand(states.shape[1], -1)
            nxt, _, _ = batched_step(env_name, states, actions.expand(states.shape[0], -1), c)
            return nxt
        return step

    return factory


def model_step_factory(sim, agent_id: int, n_candidates: int) -> StepFactory:
    """Step functions on a learned ensemble (``sim.net.step``) for one agent."""
    def factory(active: np.ndarray) -> StepFn:
        agents = torch.full((len(active) * n_candidates,), agent_id, dtype=torch.int64, device=sim.device)

        def step(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            return sim.net.step(agents, states, actions)
        return step

    return factory


@torch.no_grad()
def evaluate_mpc(env_name: str, covariates: dict[str, float], planner, step_factory: StepFactory,
                 n_episodes: int, seed: int, max_episode_steps: int | None = None,
                 device: str = "cpu", label: str = "mpc") -> np.ndarray:
    """Undiscounted returns ``[n_episodes]`` of ``planner`` acting in the true env."""
    envs = [make(env_name, max_episode_steps=max_episode_steps, **covariates) for _ in range(n_episodes)]
    seeds = np.random.SeedSequence(seed).generate_state(n_episodes).tolist()
    obs = np.stack([env.reset(seed=int(s))[0] for env, s in zip(envs, seeds)]).astype(np.float32)
    planner.reset(n_episodes)
    running = np.ones(n_episodes, dtype=bool)
    returns = np.zeros(n_episodes)
    cap = envs[0].spec.max_episode_steps
    progress = Progress(cap, f"{label} env steps", every=max(1, cap // 10))
    while running.any():
        idx = np.flatnonzero(running)
        states = torch.as_tensor(obs[idx], device=device)
        actions = planner.act(step_factory(idx), states, active=torch.as_tensor(running)).cpu().numpy()
        for j, i in enumerate(idx):
            a = actions[j] if actions.ndim > 1 else int(actions[j])
            o, r, te, tr, _ = envs[i].step(a)
            obs[i], returns[i] = o, returns[i] + r
            running[i] = not (te or tr)
        progress.update(1, running=int(running.sum()), mean_return=float(returns.mean()))
    progress.close()
    return returns
