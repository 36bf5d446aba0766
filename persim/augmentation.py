"""Synthetic trajectories from a personalized simulator (paper App. F.4, Table 3: PerSim-BCQ-5 / -CQL-5).

Each synthetic episode starts from the env's initial-state distribution (the agent's env reset with
its own seed). MPC plans on the simulator exactly as in the reward evaluation, but the WHOLE planned
sequence is executed in the simulator (ensemble-mean prediction), then MPC plans again from where it
ended, until the episode ends: the env's step cap, or the env's known termination rule applied to a
predicted state. Rewards are the known reward function of the predicted transitions. All episodes
(test agents x trajectories) run in lock step: one planner call per planning round.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

import persim.envs as E
from persim.data.rollout import Transitions
from persim.data.schema import OfflineDataset, to_frame
from persim.envs import get_spec
from persim.guards import check_output
from persim.planning.factory import make_planner
from persim.planning.rewards import reward_fn
from persim.progress import Progress
from persim.protocols import Simulator
from persim.seeding import derive_seed


def start_states(env: str, covariates: Sequence[dict[str, float]], seeds: Sequence[int]) -> np.ndarray:
    """Initial observations ``[E, D]``: episode e's env (its agent's covariates) reset with ``seeds[e]``."""
    return np.stack([E.make(env, **cov).reset(seed=int(s))[0] for cov, s in zip(covariates, seeds)]).astype(np.float32)


def synthesize(sim: Simulator, env: str, agent_ids: Sequence[int], covariates: Sequence[dict[str, float]],
               mpc: dict, max_steps: int, seed: int) -> Transitions:
    """One synthetic episode per entry of ``agent_ids`` (episode e = agent ``agent_ids[e]``).

    ``mpc``: the MPCConfig fields (its ``horizon`` is the executed sequence's length too);
    ``max_steps``: the env's step cap. Returns the episodes' transitions in episode, then time order."""
    n = len(agent_ids)
    ids = torch.as_tensor(np.asarray(agent_ids, dtype=np.int64), device=sim.device)
    rewards = reward_fn(env)
    planner = make_planner(env, mpc, sim.planning_members, derive_seed(seed, "planner"))
    gen = torch.Generator(device=sim.device).manual_seed(derive_seed(seed, "particles"))
    states = torch.as_tensor(start_states(env, covariates, [derive_seed(seed, "start", e) for e in range(n)]),
                             device=sim.device)
    running, t = torch.ones(n, dtype=torch.bool), 0
    progress = Progress(max_steps, f"{env}: {n} synthetic episodes, steps", every=max(1, max_steps // 10))
    rows: list[tuple] = []  # (episode [R], t, obs [R, D], actions, rewards, next_obs, terminated, truncated)
    while running.any() and t < max_steps:
        active = torch.nonzero(running).squeeze(1)
        planner.reset(len(active))  # the previous sequence was executed whole: nothing to warm-start from
        step = sim.planning_step(ids[active], planner.cfg.n_candidates, None, gen)
        plan = planner.plan(step, states[active])  # [R, H] or [R, H, A]
        for h in range(plan.shape[1]):
            if not running.any() or t >= max_steps:
                break
            act_idx = torch.nonzero(running[active]).squeeze(1)  # rows of `plan` still running
            ep = active[act_idx]
            s, a = states[ep], plan[act_idx, h]
            nxt = check_output(sim.predict(ids[ep], s, a), f"{env} synthetic trajectory (predicted states)")
            r, done = rewards(s, a, nxt)
            trunc = ~done & (t + 1 >= max_steps)
            rows.append((ep.numpy(), np.full(len(ep), t), s.cpu().numpy(), a.cpu().numpy(), r.cpu().numpy(),
                         nxt.cpu().numpy(), done.cpu().numpy(), trunc.cpu().numpy()))
            states[ep] = nxt
            running[ep[done.cpu()]] = False
            t += 1
            progress.update(1, running=float(running.sum()))
    progress.close()
    return _transitions(rows)


def _transitions(rows: list[tuple]) -> Transitions:
    """Stack per-step rows and order them by episode, then time."""
    cols = [np.concatenate([r[i] for r in rows]) for i in range(8)]
    order = np.lexsort((cols[1], cols[0]))
    episode, t, obs, actions, rew, nxt, term, trunc = (c[order] for c in cols)
    return Transitions(episode.astype(np.int64), t.astype(np.int64), obs.astype(np.float32), actions,
                       rew.astype(np.float64), nxt.astype(np.float32), term.astype(bool), trunc.astype(bool))


def synthetic_frame(sim: Simulator, env: str, agents: pd.DataFrame, n_trajectories: int, mpc: dict,
                    max_steps: int, seed: int) -> pd.DataFrame:
    """``n_trajectories`` synthetic episodes for every row of ``agents`` (columns agent_id and the
    env's covariates) in the dataset schema; each agent's episodes are consecutive, ``t`` restarts at 0."""
    spec = get_spec(env)
    agent_ids = np.repeat(agents["agent_id"].to_numpy(np.int64), n_trajectories)  # [E]
    cov = np.repeat(agents[list(spec.covariates)].to_numpy(np.float64), n_trajectories, axis=0)  # [E, C]
    tr = synthesize(sim, env, agent_ids, [spec.covariate_dict(c) for c in cov], mpc, max_steps, seed)
    return to_frame(spec, agent_ids, cov, tr)


def concat_datasets(observed: OfflineDataset, synthetic: OfflineDataset) -> OfflineDataset:
    """``observed`` with ``synthetic``'s episodes added after each agent's own (rows grouped by agent;
    within an agent, episodes keep their order and ``t`` restarts at 0 at each)."""
    if observed.env != synthetic.env:
        raise ValueError(f"cannot add {synthetic.env} trajectories ({synthetic.path}) to {observed.env} data "
                         f"({observed.path})")
    fields = ("agent_ids", "covariates", "t", "obs", "actions", "rewards", "next_obs", "terminated", "truncated")
    joined = {f: np.concatenate([getattr(observed, f), getattr(synthetic, f)]) for f in fields}
    order = np.argsort(joined["agent_ids"], kind="stable")
    meta = {**observed.meta, "augmented_with": synthetic.path, "synthetic_meta": synthetic.meta}
    return OfflineDataset(observed.env, f"{observed.path}+{synthetic.path}", meta,
                          **{f: v[order] for f, v in joined.items()})
