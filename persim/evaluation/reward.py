"""Reward evaluation (paper §5.3, Tables 2 and 9-11): MPC acting in the true environment.

E episodes run in lock step (one rule: every test agent x seed x episode at once) through the one
rollout loop (:func:`persim.data.rollout.rollout`): MPC is an actor there
(:class:`persim.planning.actor.MPCActor`) whose planner chooses actions for all still-running
episodes in one batched call, as a learned policy set is. Returns are counted as the env counts them
(MountainCar -1 per step up to 500, CartPole +1 per step up to 200, HalfCheetah its 1000-step return).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from persim.data.rollout import PolicyActor, rollout
from persim.envs import get_spec, make
from persim.envs.torch_dynamics import batched_step
from persim.evaluation.history import Window
from persim.planning.actor import MPCActor, StepFactory
from persim.progress import Progress
from persim.protocols import Simulator, StepFn
from persim.seeding import derive_seed


def _per_episode(covariates, n: int | None = None) -> list[dict[str, float]]:
    """A covariate dict per episode from one dict (``n`` copies) or a list of dicts."""
    if isinstance(covariates, dict):
        return [covariates] * (n or 1)
    return list(covariates)


def true_step_factory(env_name: str, covariates, n_candidates: int) -> StepFactory:
    """Step functions on the true dynamics for the "True env + MPC" row: batched torch dynamics
    (MountainCar, CartPole) or MuJoCo state copies rolled out in C (HalfCheetah).

    ``covariates``: one dict for every episode, or a list with one dict per episode."""
    per_episode = _per_episode(covariates)
    cov = torch.tensor([list(c.values()) for c in per_episode], dtype=torch.float32)  # [E or 1, C]
    if get_spec(env_name).true_dynamics == "mujoco":
        from persim.planning.mujoco_dynamics import HalfCheetahDynamics

        keys = [tuple(c.values()) for c in per_episode]
        unique = sorted(set(keys))
        models = [HalfCheetahDynamics(dict(zip(per_episode[0], k))) for k in unique]
        model_of = np.array([unique.index(k) for k in keys])  # [E] index into models

        def hc_factory(active: np.ndarray, window: Window | None = None) -> StepFn:
            rows = model_of[np.repeat(active if len(keys) > 1 else np.zeros_like(active), n_candidates)]
            groups = [(i, torch.as_tensor(np.flatnonzero(rows == i))) for i in np.unique(rows)]

            def step(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
                out = torch.empty_like(states)
                for i, r in groups:  # one batched MuJoCo rollout per agent's model
                    out[:, r] = models[i].step(states[:, r], actions[r])
                return out
            return step
        return hc_factory

    def factory(active: np.ndarray, window: Window | None = None) -> StepFn:
        c = cov if len(cov) == 1 else cov[torch.as_tensor(active)].repeat_interleave(n_candidates, dim=0)

        def step(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
            cc = (c.expand(states.shape[1], -1) if len(c) == 1 else c).to(states.device)
            nxt, _, _ = batched_step(env_name, states, actions.expand(states.shape[0], *actions.shape), cc)
            return nxt
        return step

    return factory


def model_step_factory(sim: Simulator, agent_id, n_candidates: int, seed: int = 0) -> StepFactory:
    """Step functions on a learned simulator; ``agent_id`` is one id or an array with one per episode.

    Each env step asks the simulator for its planning step (:meth:`Simulator.planning_step`) over
    the running episodes' agent ids; a context simulator (CaDM, ``context_length = K > 0``) also
    gets each episode's last K true transitions, encoded once per env step and held fixed over the
    planning horizon. Sampling simulators draw from one generator seeded with ``seed``."""
    gen = torch.Generator(device=sim.device).manual_seed(seed)
    ids = np.atleast_1d(np.asarray(agent_id, dtype=np.int64))

    def factory(active: np.ndarray, window: Window | None = None) -> StepFn:
        per_episode = ids[active] if len(ids) > 1 else np.repeat(ids, len(active))
        context = window.context(sim) if sim.context_length else None
        return sim.planning_step(per_episode, n_candidates, context=context, generator=gen)

    return factory


@torch.no_grad()
def evaluate_mpc(env_name: str, covariates, planner, step_factory: StepFactory,
                 n_episodes: int, seed: int, max_episode_steps: int | None = None,
                 device: str = "cpu", label: str = "mpc", history_length: int = 0,
                 episode_seeds: list[int] | None = None, terminal_reward: float | None = None) -> np.ndarray:
    """Undiscounted returns ``[n_episodes]`` of ``planner`` acting in the true env.

    ``covariates``: one dict (every episode the same agent) or a list with one dict per episode;
    ``episode_seeds`` (one reset seed per episode) overrides the seeds drawn from ``seed``. With
    ``history_length = K > 0`` each episode's last K true transitions are kept and handed to the
    step factory (context simulators). ``terminal_reward``: what the step that ends an episode scores
    (None: the env's reward; see ``evaluation.terminal_step_reward``)."""
    per_episode = _per_episode(covariates, n_episodes)
    n_episodes = len(per_episode)
    envs = [make(env_name, max_episode_steps=max_episode_steps, **c) for c in per_episode]
    seeds = (episode_seeds if episode_seeds is not None
             else np.random.SeedSequence(seed).generate_state(n_episodes).tolist())
    cap = envs[0].spec.max_episode_steps
    progress = Progress(cap, f"{label} env steps", every=max(1, cap // 10))
    actor = MPCActor(planner, step_factory, history_length, device)
    tr = rollout(envs, seeds, actor, on_step=lambda step, running, returns: progress.update(
        1, running=running, mean_return=float(returns.mean())))
    progress.close()
    return tr.episode_returns(n_episodes, terminal_reward)


def plan_rewards(env_name: str, plan: "EpisodePlan", sims: list[Simulator], mpc: dict, seed: int,
                 max_episode_steps: int, device: str = "cpu", terminal_reward: float | None = None) -> np.ndarray:
    """Returns ``[A*S*N]`` of MPC on every episode of ``plan``: on the true dynamics (no ``sims``), on
    one simulator for every seed (one lock-step batch), or on one simulator per seed (``len(sims) ==
    S``: seed k's episodes plan on ``sims[k]``, the authors' retrained trials; one batch per seed)."""
    from persim.planning.factory import make_planner
    if len(sims) > 1 and len(sims) != plan.n_seeds:
        raise ValueError(f"reward evaluation: {len(sims)} simulators for {plan.n_seeds} seeds "
                         "(one for every seed, or one per seed)")
    groups = [np.arange(len(plan.seeds))] if len(sims) <= 1 else [plan.seed_episodes(k) for k in range(plan.n_seeds)]
    returns = np.empty(len(plan.seeds))
    for k, idx in enumerate(groups):
        sim = sims[k] if sims else None
        tag = ("planner",) if len(groups) == 1 else ("planner", k)
        planner = make_planner(env_name, mpc, 1 if sim is None else sim.planning_members, derive_seed(seed, *tag))
        covs = [plan.covariates[i] for i in idx]
        factory = (true_step_factory(env_name, covs, mpc["n_candidates"]) if sim is None else
                   model_step_factory(sim, plan.agent_ids[idx], mpc["n_candidates"],
                                      seed=derive_seed(seed, "particles", *tag[1:])))
        label = (f"{plan.n_agents} agents x {plan.n_seeds if len(groups) == 1 else 1} seeds x "
                 f"{plan.n_episodes} episodes" + ("" if len(groups) == 1 else f" (seed {k}'s simulator)"))
        returns[idx] = evaluate_mpc(env_name, covs, planner, factory, len(idx), 0,
                                    max_episode_steps, device=device, label=label,
                                    history_length=0 if sim is None else sim.context_length,
                                    episode_seeds=[plan.seeds[i] for i in idx], terminal_reward=terminal_reward)
    return returns


def agent_covariates(row, spec) -> dict[str, float]:
    """Covariates of one agents-table row as ``{name: value}``."""
    return {c: float(row[c]) for c in spec.covariates}


@dataclass
class EpisodePlan:
    """Episodes of a reward evaluation, agent-major then seed then episode (A x S x N in all).

    agent_ids ``[A*S*N]``, covariates (one dict per episode), seeds (env reset seed per episode)."""

    agent_ids: np.ndarray
    covariates: list[dict[str, float]]
    seeds: list[int]
    n_agents: int
    n_seeds: int
    n_episodes: int

    def seed_episodes(self, k: int) -> np.ndarray:
        """Indices ``[A*N]`` of seed ``k``'s episodes in the plan's order."""
        i = np.arange(self.n_agents * self.n_seeds * self.n_episodes)
        return i[(i // self.n_episodes) % self.n_seeds == k]

    def seed_means(self, returns: np.ndarray) -> list[list[float]]:
        """Per agent, the mean return of each seed's episodes (``returns [A*S*N]``)."""
        r = np.asarray(returns).reshape(self.n_agents, self.n_seeds, self.n_episodes).mean(-1)
        return r.tolist()


def reward_episodes(agents, spec, seed: int, n_seeds: int, n_episodes: int) -> EpisodePlan:
    """Episode list for test agents (rows of the agents table): seed k of agent a resets its episodes
    from ``derive_seed(seed, "reward", agent_id, k)``."""
    ids, covs, seeds = [], [], []
    for _, row in agents.iterrows():
        aid = int(row["agent_id"])
        for k in range(n_seeds):
            ss = np.random.SeedSequence(derive_seed(seed, "reward", aid, k)).generate_state(n_episodes).tolist()
            ids += [aid] * n_episodes
            covs += [agent_covariates(row, spec)] * n_episodes
            seeds += [int(x) for x in ss]
    return EpisodePlan(np.asarray(ids, dtype=np.int64), covs, seeds, len(agents), n_seeds, n_episodes)


def reward_row(settings: dict, row, spec, seed_returns: list[float]) -> dict:
    """One cell of Tables 9-11: mean ± std over the seeds' mean returns, with the per-seed values."""
    r = np.asarray(seed_returns)
    return {"env": settings["env"], "dataset": settings["dataset"], "method": settings["method_label"],
            "agent": int(row["test_agent"]), "agent_id": int(row["agent_id"]),
            "covariates": ";".join(f"{c}={row[c]:g}" for c in spec.covariates),
            "reward": r.mean(), "reward_std": r.std(), "n_seeds": len(r), "n_episodes": settings["n_episodes"],
            "seed_returns": ";".join(f"{x:.3f}" for x in r)}


def policy_reward_rows(policies, agents, spec, settings: dict, logger) -> list[dict]:
    """Rows for a policy set acting greedily in the true env: every test agent x ``n_seeds`` x
    ``n_episodes`` episode in one lock-step rollout (each agent's episodes use its own policy); the
    episodes reset exactly as the MPC evaluation's (:func:`reward_episodes`). Policies that sample
    (continuous BCQ draws candidate actions from its VAE with torch's global generator) draw from a
    generator seeded from ``settings["seed"]``, so the rows are a function of the policies and the seed."""
    plan = reward_episodes(agents, spec, settings["seed"], settings["n_seeds"], settings["n_episodes"])
    actors = [policies.actor(int(aid)) for aid in agents["agent_id"]]
    policy_index = np.repeat(np.arange(len(actors)), settings["n_seeds"] * settings["n_episodes"])
    envs = [make(settings["env"], max_episode_steps=settings["max_episode_steps"], **c) for c in plan.covariates]
    cap = envs[0].spec.max_episode_steps
    progress = Progress(cap, f"{len(envs)} policy episodes, env steps", every=max(1, cap // 10), logger=logger)
    with torch.random.fork_rng(devices=[]):  # the caller's global torch RNG state is left as it was
        torch.manual_seed(derive_seed(settings["seed"], "policy_actions"))
        tr = rollout(envs, plan.seeds, PolicyActor(actors, policy_index),
                     on_step=lambda step, running, returns: progress.update(1, running=running))
    progress.close()
    rows = []
    for (_, row), seed_returns in zip(agents.iterrows(), plan.seed_means(tr.episode_returns(len(envs), settings.get("terminal_reward")))):
        for k, r in enumerate(seed_returns):
            logger.info("agent %d seed %d: mean return %.2f over %d episodes", row["test_agent"], k, r,
                        settings["n_episodes"])
        rows.append(reward_row(settings, row, spec, seed_returns))
    return rows
