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
from persim.evaluation.history import TransitionHistory, Window, context_length
from persim.planning.mpc import StepFn
from persim.progress import Progress

StepFactory = Callable[..., StepFn]  # (active episode indices [E'], history window | None) -> step_fn


def true_step_factory(env_name: str, covariates: dict[str, float], n_candidates: int) -> StepFactory:
    """Step functions on the true dynamics for the "True env + MPC" row: batched torch dynamics
    (MountainCar, CartPole) or MuJoCo state copies rolled out in C (HalfCheetah)."""
    if env_name == "halfcheetah":
        from persim.planning.mujoco_dynamics import HalfCheetahDynamics

        dynamics = HalfCheetahDynamics(covariates)

        def hc_factory(active: np.ndarray, window: Window | None = None) -> StepFn:
            return dynamics.step
        return hc_factory
    cov = torch.tensor([list(covariates.values())], dtype=torch.float32)

    def factory(active: np.ndarray, window: Window | None = None) -> StepFn:
        def step(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            c = cov.expand(states.shape[1], -1)
            nxt, _, _ = batched_step(env_name, states, actions.expand(states.shape[0], -1), c)
            return nxt
        return step

    return factory


def model_step_factory(sim, agent_id: int, n_candidates: int, seed: int = 0) -> StepFactory:
    """Step functions on a learned simulator for one agent.

    PerSim steps its ensemble members with the agent id (``sim.net.step``). A context simulator (CaDM)
    encodes each episode's last K true transitions once per env step, keeps that context fixed over the
    planning horizon and steps its particles (``sim.step_particles``, sampling from ``seed``)."""
    gen = torch.Generator(device=sim.device).manual_seed(seed) if context_length(sim) else None

    def factory(active: np.ndarray, window: Window | None = None) -> StepFn:
        if context_length(sim):
            ctx = window.context(sim).repeat_interleave(n_candidates, dim=0)  # [E'*C, c], episode-major

            def step(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
                return sim.step_particles(states, actions, ctx, generator=gen)
            return step
        agents = torch.full((len(active) * n_candidates,), agent_id, dtype=torch.int64, device=sim.device)

        def step(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            return sim.net.step(agents, states, actions)
        return step

    return factory


@torch.no_grad()
def evaluate_mpc(env_name: str, covariates: dict[str, float], planner, step_factory: StepFactory,
                 n_episodes: int, seed: int, max_episode_steps: int | None = None,
                 device: str = "cpu", label: str = "mpc", history_length: int = 0) -> np.ndarray:
    """Undiscounted returns ``[n_episodes]`` of ``planner`` acting in the true env.

    With ``history_length = K > 0`` each episode's last K true transitions are kept and handed to the
    step factory (context simulators)."""
    envs = [make(env_name, max_episode_steps=max_episode_steps, **covariates) for _ in range(n_episodes)]
    seeds = np.random.SeedSequence(seed).generate_state(n_episodes).tolist()
    obs = np.stack([env.reset(seed=int(s))[0] for env, s in zip(envs, seeds)]).astype(np.float32)
    planner.reset(n_episodes)
    history = _history(envs[0], n_episodes, history_length, obs.shape[1]) if history_length else None
    running = np.ones(n_episodes, dtype=bool)
    returns = np.zeros(n_episodes)
    cap = envs[0].spec.max_episode_steps
    progress = Progress(cap, f"{label} env steps", every=max(1, cap // 10))
    while running.any():
        idx = np.flatnonzero(running)
        states = torch.as_tensor(obs[idx], device=device)
        window = history.window(idx) if history is not None else None
        actions = planner.act(step_factory(idx, window), states, active=torch.as_tensor(running)).cpu().numpy()
        before = obs[idx].copy()
        for j, i in enumerate(idx):
            a = actions[j] if actions.ndim > 1 else int(actions[j])
            o, r, te, tr, _ = envs[i].step(a)
            obs[i], returns[i] = o, returns[i] + r
            running[i] = not (te or tr)
        if history is not None:
            history.push(idx, before, actions, obs[idx])
        progress.update(1, running=int(running.sum()), mean_return=float(returns.mean()))
    progress.close()
    return returns


def _history(env, n_episodes: int, k: int, obs_dim: int) -> TransitionHistory:
    space = env.action_space
    discrete = not hasattr(space, "low")
    return TransitionHistory(n_episodes, k, obs_dim, () if discrete else tuple(space.shape), discrete)


def agent_covariates(row, spec) -> dict[str, float]:
    """Covariates of one agents-table row as ``{name: value}``."""
    return {c: float(row[c]) for c in spec.covariates}


def reward_row(settings: dict, row, spec, seed_returns: list[float]) -> dict:
    """One cell of Tables 9-11: mean ± std over the seeds' mean returns, with the per-seed values."""
    r = np.asarray(seed_returns)
    return {"env": settings["env"], "dataset": settings["dataset"], "method": settings["method_label"],
            "agent": int(row["test_agent"]), "agent_id": int(row["agent_id"]),
            "covariates": ";".join(f"{c}={row[c]:g}" for c in spec.covariates),
            "reward": r.mean(), "reward_std": r.std(), "n_seeds": len(r), "n_episodes": settings["n_episodes"],
            "seed_returns": ";".join(f"{x:.3f}" for x in r)}


def policy_reward_rows(policies, agents, spec, settings: dict, logger) -> list[dict]:
    """Rows for a policy set acting greedily in the true env: per test agent, ``n_seeds`` x ``n_episodes``."""
    from persim.policies.train import evaluate_policy
    from persim.seeding import derive_seed

    rows = []
    for _, row in agents.iterrows():
        aid, seed_returns = int(row["agent_id"]), []
        act = policies.actor(aid)
        for k in range(settings["n_seeds"]):
            seed = derive_seed(settings["seed"], "policy_reward", aid, k)
            returns = evaluate_policy(act, settings["env"], agent_covariates(row, spec), settings["n_episodes"],
                                      seed, settings["max_episode_steps"])
            seed_returns.append(float(returns.mean()))
            logger.info("agent %d seed %d: mean return %.2f over %d episodes", row["test_agent"], k,
                        returns.mean(), len(returns))
        rows.append(reward_row(settings, row, spec, seed_returns))
    return rows
