"""Each job's work in units of a few kernels, from its settings alone (nothing has run yet).

Kernels (``Kernel.kind``) and their units:

* ``overhead`` — one per job: process start-up and imports (units: jobs);
* ``online`` — online policy training, d3rlpy DQN / TD3 (units: env steps, updates included);
* ``train`` — one registered method's training, split by the config fields its work grows with
  (its module's ``WORK_FIELDS``): a ``pass`` field (epochs) counts passes x agent trajectories, a ``step``
  field (updates, PPO iterations) counts its value; ``part="fixed"`` is the once-per-job set-up;
* ``mpc`` — one lock step of E episodes planned by MPC on a simulator or on the true dynamics
  (units: lock steps; the episode cap, an upper bound where episodes end early);
* ``rollout`` — env steps of an MLP policy (or uniform-random actions) acting in the true env, E
  episodes in lock step (units: env steps);
* ``policy_eval`` — env steps of a trained policy set (BCQ, CQL, MOReL) acting in the true env.

Where an episode may end before its cap (MountainCar's goal, CartPole's fall) the estimate counts the
cap, except for ``random`` trajectories, whose mean length the calibration measures.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from persim.cost.jobs import Job
from persim.envs import get_spec
from persim.methods import METHODS, get_method

N_TEST = 5  # the paper's five test agents (and five unseen agents)



def work_fields(method: str) -> dict[str, str] | None:
    """The config fields ``method``'s training work grows with, as its module declares them
    (``WORK_FIELDS``: field -> ``"pass"`` for epochs over the data, ``"step"`` for a fixed count);
    None if the module declares none (its training then counts as start-up only)."""
    return getattr(get_method(method).import_module(), "WORK_FIELDS", None)


@dataclass(frozen=True)
class Kernel:
    """What a unit of work costs depends on: kind, env, and ``key`` (JSON of the sizes that matter)."""

    kind: str
    env: str = ""
    key: str = "{}"
    part: str = ""

    def payload(self) -> dict[str, Any]:
        return json.loads(self.key)

    def label(self) -> str:
        p = self.payload()
        what = p.get("method") or p.get("algo") or p.get("module", "").rsplit(".", 1)[-1]
        what += "".join(f" {v}" for v in p.get("options", {}).values())
        if "episodes" in p:
            what += f" E={p['episodes']}"
        return " ".join(str(x) for x in (self.kind, self.env, what, self.part) if x)


@dataclass(frozen=True)
class Work:
    kernel: Kernel
    units: float


OVERHEAD = Kernel("overhead")


def _key(**kw: Any) -> str:
    return json.dumps(kw, sort_keys=True, default=str)


def n_agents(job: Job, config: Mapping[str, Any]) -> int:
    """Agents of the job's agent table (a scarcity trial's N, else the profile's n_agents)."""
    return int(job.wildcards["n"]) if "n" in job.wildcards else int(config["agents"]["n_agents"])


def trajectory(job: Job, config: Mapping[str, Any]) -> str:
    """``random`` (uniform actions: mean length measured by the calibration) or ``cap``."""
    behaviour = job.wildcards.get("behaviour", job.settings.get("behaviour", ""))
    eps = config.get("datasets", {}).get("epsilon", {}).get(behaviour, 0.0)
    return "random" if float(eps) >= 1.0 else "cap"


def method_settings(method: str, env: str, config: Mapping[str, Any]) -> dict[str, Any]:
    return get_method(method).settings(config, env)


def train_key(method: str, env: str, settings: Mapping[str, Any], episode_steps: int) -> tuple[str, dict[str, str]]:
    """(kernel key, work fields) of ``method``'s training with ``settings``: what its speed depends on
    (module, options, every setting except the work fields), so that methods and jobs that differ only
    in a name, an agent count or a work field share one calibration."""
    spec = get_method(method)
    fields = work_fields(method) or {}
    cfg = spec.make_config(dict(settings), env, episode_steps)
    base = {k: v for k, v in vars(cfg).items() if k not in fields}
    return _key(module=spec.module, options=dict(spec.options), settings=base, episode_steps=episode_steps), fields


def train_work(method: str, env: str, settings: Mapping[str, Any], agents: int, traj: str,
               episode_steps: int, repeats: int = 1) -> list[Work]:
    """Training of ``method`` with ``settings`` on ``agents`` trajectories (``traj``: ``random`` or
    ``cap`` length), ``repeats`` times. A ``pass`` field's units are passes x trajectories (its
    kernel part names the trajectory kind); a ``step`` field's units are its value."""
    spec = get_method(method)
    if work_fields(method) is None:
        return []  # no cost model: the job counts as overhead only (listed by the CLI)
    key, fields = train_key(method, env, settings, episode_steps)
    cfg = spec.make_config(dict(settings), env, episode_steps)
    out = [Work(Kernel("train", env, key, "fixed"), repeats)]
    for name, how in fields.items():
        value = float(getattr(cfg, name))
        part = f"{name}@{traj}" if how == "pass" else name
        out.append(Work(Kernel("train", env, key, part), repeats * value * (agents if how == "pass" else 1)))
    return out


def rollout_work(env: str, n_episodes: int, length: float) -> list[Work]:
    kernel = Kernel("rollout", env, _key(episodes=n_episodes))
    return [Work(kernel, n_episodes * length), Work(_fixed(kernel), 1)]


def _fixed(kernel: Kernel) -> Kernel:
    """The once-per-job part of ``kernel`` (set-up: building envs, networks, planners)."""
    return Kernel(kernel.kind, kernel.env, kernel.key, "fixed")


def mpc_work(env: str, method: str, mpc: Mapping[str, Any], n_episodes: int, steps: float,
             config: Mapping[str, Any]) -> list[Work]:
    sim = {} if method == "true_mpc" else method_settings(method, env, config)
    key = _key(method=method, mpc=dict(mpc), episodes=n_episodes, sim=sim, episode_steps=config["episode_steps"][env])
    kernel = Kernel("mpc", env, key)
    return [Work(kernel, steps), Work(_fixed(kernel), 1)]


# -- one function per rule: (job, config) -> work beyond the overhead ---------------------------

def _online(job: Job, config) -> list[Work]:
    s, env = job.settings, job.settings["env"]
    train = dict(s["train"])
    n_steps = float(train["n_steps"])
    key = _key(algo=train.get("algo"), train={k: v for k, v in train.items()
                                              if k not in ("n_steps", "eval_interval", "eval_episodes")},
               episode_steps=s["max_episode_steps"])
    interval = int(train.get("eval_interval") or 0)
    evals = (int(n_steps) // interval if interval else 0) + 1  # periodic greedy evaluations + the final one
    kernel = Kernel("online", env, key)
    return ([Work(kernel, n_steps), Work(_fixed(kernel), 1)]
            + rollout_work(env, 1, evals * int(train.get("eval_episodes", 10)) * s["max_episode_steps"]))


def _train(job: Job, config) -> list[Work]:
    s = job.settings
    return train_work(s["method"], s["env"], s["model"], n_agents(job, config), trajectory(job, config),
                      s["max_episode_steps"])


def _rank_cv(job: Job, config) -> list[Work]:
    s = job.settings
    behaviour_job = Job(job.jobid, job.rule, {"behaviour": s["dataset"]}, {}, job.threads, None)
    return train_work("persim", s["env"], s["model"], n_agents(job, config), trajectory(behaviour_job, config),
                      config["episode_steps"][s["env"]], repeats=len(s["ranks"]))


def _mpc(job: Job, config) -> list[Work]:
    s = job.settings
    method = s["method"].split("_p")[0] if s["method"].startswith("persim_p") else s["method"]
    return mpc_work(s["env"], method, s["mpc"], N_TEST * s["n_seeds"] * s["n_episodes"], s["max_episode_steps"],
                    config)


def _synthetic(job: Job, config) -> list[Work]:
    s = job.settings
    calls = math.ceil(s["max_episode_steps"] / s["mpc"]["horizon"])  # whole planned sequences are executed
    return mpc_work(s["env"], s["simulator"], s["mpc"], N_TEST * s["n_trajectories"], calls, config)


def _policy_eval(job: Job, config) -> list[Work]:
    s, env = job.settings, job.settings["env"]
    episodes = N_TEST * s["n_seeds"] * s["n_episodes"]
    settings = method_settings(s["method"], env, config)
    kernel = Kernel("policy_eval", env, _key(method=s["method"], settings=settings, episodes=episodes,
                                             episode_steps=s["max_episode_steps"]))
    return [Work(kernel, episodes * s["max_episode_steps"]), Work(_fixed(kernel), 1)]


def _dataset(job: Job, config) -> list[Work]:
    s, env = job.settings, job.settings["env"]
    n = n_agents(job, config)
    if trajectory(job, config) == "random":
        kernel = Kernel("rollout", env, _key(episodes=n, random=True))
        return [Work(kernel, n), Work(_fixed(kernel), 1)]  # units: agents (x the measured mean length)
    return rollout_work(env, n, s["max_episode_steps"])


def _test_rollouts(job: Job, config) -> list[Work]:
    s = job.settings
    return rollout_work(s["env"], s["n_rollouts"], N_TEST * (s["warmup"] + s["horizon"]))


RULE_WORK: dict[str, Callable[[Job, Mapping[str, Any]], list[Work]]] = {
    "train_policy": _online,
    "train_simulator": _train, "scarcity_train_simulator": _train,
    "train_policy_set": _train, "scarcity_train_policy_set": _train,
    "rank_cv": _rank_cv,
    "eval_reward": _mpc, "eval_reward_true_env": _mpc, "eval_reward_unseen": _mpc, "scarcity_eval_reward": _mpc,
    "synthetic_trajectories": _synthetic,
    "eval_policy_reward": _policy_eval, "eval_policy_reward_unseen": _policy_eval,
    "scarcity_eval_policy_reward": _policy_eval,
    "dataset": _dataset, "scarcity_dataset": _dataset,
    "test_rollouts": _test_rollouts, "test_rollouts_unseen": _test_rollouts,
}


def job_work(job: Job, config: Mapping[str, Any]) -> list[Work]:
    """The job's work: its start-up plus, for the rules in :data:`RULE_WORK`, what its settings ask for.
    Every other rule (tables, figures, agent tables, prediction scores) costs its start-up and a few
    seconds of pandas, which the overhead kernel covers."""
    fn = RULE_WORK.get(job.rule)
    return [Work(OVERHEAD, 1.0)] + (fn(job, config) if fn else [])


def modelled_methods() -> dict[str, bool]:
    """method name -> whether its module declares ``WORK_FIELDS`` (a training cost model)."""
    return {name: work_fields(name) is not None for name in METHODS}


def episode_cap(env: str, config: Mapping[str, Any]) -> int:
    return int(config.get("episode_steps", {}).get(env, get_spec(env).max_episode_steps))
