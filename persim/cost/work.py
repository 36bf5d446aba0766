"""Each job's work in units of a few kernels, from its settings alone (nothing has run yet).

Kernels (``Kernel.kind``) and their units:

* ``overhead`` — one per job: process start-up and imports (units: jobs), or with
  ``PERSIM_JOB_SERVER=1`` the hand-over to a warm job server (:mod:`persim.jobserver`), whose
  start-up (part ``start``) the run's first job pays once (:func:`run_start`);
* ``scheduler`` — one per job: Snakemake's own time around it, outside its benchmark file (units:
  jobs; counted in the wall time, not in a stage's job time, which compares with benchmark files);
* ``online`` — online policy training, d3rlpy DQN / TD3 (units: env steps, updates included);
* ``train`` — one registered method's training, split by the config fields its work grows with
  (its module's ``WORK_FIELDS``): a ``pass`` field (epochs) counts passes x agent trajectories, a ``step``
  field (updates, PPO iterations) counts its value (or what the module's ``work_units`` says);
  ``part="fixed"`` is the once-per-job set-up;
* ``mpc`` — one lock step of E episodes planned by MPC on a simulator or on the true dynamics
  (units: lock steps of all E episodes; an episode that ends leaves the lock step, so a job's units
  are its cap x the expected length fraction of :mod:`persim.cost.lengths`);
* ``synthetic`` — Table 3's synthetic trajectories: E episodes in lock step on a simulator, a
  planner call every H steps, the planned sequence executed by the simulator's ensemble-mean
  prediction (units: executed lock steps);
* ``prediction`` — the prediction evaluation of one test agent: its simulator rolled open loop over
  that agent's test rollouts (units: agents);
* ``rollout`` — env steps of a d3rlpy policy of the profile's networks acting in the true env, E
  episodes in lock step (units: env steps; a policy's greedy evaluations, the test rollouts);
* ``dataset`` — a dataset job: one trajectory per agent under its logging policy (several d3rlpy
  policies in lock step) or uniform-random actions, written as Parquet (units: transitions; for
  ``random``: agent trajectories of the length the calibration measures);
* ``policy_eval`` — env steps of a trained policy set (BCQ, CQL, MOReL) acting in the true env;
* ``report`` — a table, figure or report job's pandas / matplotlib / scikit-learn work beyond its
  start-up, per family of :data:`REPORT_FAMILIES` (:mod:`persim.cost.report_work`; units: a table
  job's input files plus its ``fixed`` part, a figure job's jobs).

Where an episode may end before its cap (MountainCar's goal, CartPole's fall), MPC episodes count
the paper's mean length of that method's episodes, a logging policy's dataset trajectories the
paper's Table 5 mean length of that dataset (:mod:`persim.cost.lengths`), ``random`` trajectories the
mean length the calibration measures, and a policy set's evaluation the paper's mean length of that
method's episodes (:func:`~persim.cost.lengths.length_fraction`). Every kernel's
key holds the torch threads of the job that runs it: a kernel is timed at its job's thread count.
Not modelled (start-up only): the factor map of ``unseen_simulator``, the agent tables. Set-up that
grows with the dataset (reading Parquet, building d3rlpy's buffer) is timed on the calibration's small
dataset only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from persim import jobserver
from persim.cost.jobs import Job
from persim.cost.lengths import dataset_length_fraction, length_fraction
from persim.cost.report_work import TABLE_FAMILIES
from persim.envs import get_spec
from persim.envs.agents import N_TEST_AGENTS
from persim.methods import METHODS, get_method

Config = Mapping[str, Any]


def work_fields(method: str) -> dict[str, str] | None:
    """The config fields ``method``'s training work grows with, as its module declares them
    (``WORK_FIELDS``: field -> ``"pass"`` for epochs over the data, ``"step"`` for a fixed count);
    None if the module declares none (its training then counts as start-up only)."""
    return getattr(get_method(method).import_module(), "WORK_FIELDS", None)


@dataclass(frozen=True)
class Kernel:
    """What a unit of work costs depends on: kind, env, and ``key`` (JSON of the sizes that matter,
    the job's torch threads included); ``part`` names a component (a work field, ``fixed``)."""

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

    def fixed(self) -> "Kernel":
        """The once-per-job part of this kernel (set-up: building envs, networks, planners)."""
        return Kernel(self.kind, self.env, self.key, "fixed")


@dataclass(frozen=True)
class Work:
    """``units`` of ``kernel``'s work (its unit: see the module docstring)."""

    kernel: Kernel
    units: float


OVERHEAD = Kernel("overhead")
SERVED_OVERHEAD = Kernel("overhead", key='{"served": true}')  # a fork of the job server (persim/jobserver.py)
SERVED_START = Kernel("overhead", key='{"served": true}', part="start")  # the server's preload, once per run
SCHEDULER = Kernel("scheduler")  # Snakemake's seconds per job outside the job (units: jobs; wall time only)


def _key(**kw: Any) -> str:
    return json.dumps(kw, sort_keys=True, default=str)


def n_agents(job: Job, config: Config) -> int:
    """Agents of the job's agent table (a scarcity trial's N, else the profile's n_agents)."""
    return int(job.wildcards["n"]) if "n" in job.wildcards else int(config["agents"]["n_agents"])


def n_test_agents(job: Job, config: Config) -> int:
    """Agents a reward or rollout job evaluates: the unseen agents for the unseen rules, else the test agents."""
    if job.rule.endswith("_unseen"):
        return len(config["unseen_agents"]["covariates"])
    return N_TEST_AGENTS


def trajectory(behaviour: str, config: Config) -> str:
    """``random`` (uniform actions: mean length measured by the calibration) or ``cap``."""
    eps = config.get("datasets", {}).get("epsilon", {}).get(behaviour, 0.0)
    return "random" if float(eps) >= 1.0 else "cap"


def method_settings(method: str, env: str, config: Config) -> dict[str, Any]:
    return get_method(method).settings(config, env)


def train_key(method: str, env: str, settings: Mapping[str, Any], episode_steps: int,
              threads: int = 1) -> tuple[str, dict[str, str]]:
    """(kernel key, work fields) of ``method``'s training with ``settings``: what its speed depends on
    (module, options, every setting except the work fields, threads), so that methods and jobs that
    differ only in a name, an agent count or a work field share one calibration."""
    spec = get_method(method)
    fields = work_fields(method) or {}
    cfg = spec.make_config(dict(settings), env, episode_steps)
    base = {k: v for k, v in vars(cfg).items() if k not in fields}
    return _key(module=spec.module, options=dict(spec.options), settings=base, episode_steps=episode_steps,
                threads=threads), fields


def train_work(method: str, env: str, settings: Mapping[str, Any], agents: int, traj: str,
               episode_steps: int, threads: int = 1, repeats: int = 1, fraction: float = 1.0) -> list[Work]:
    """Training of ``method`` with ``settings`` on ``agents`` trajectories (``traj``: ``random`` or
    ``cap`` length; ``fraction``: the expected length of a ``cap`` trajectory as a share of the cap),
    ``repeats`` times. A ``pass`` field's units are passes x trajectories (x ``fraction``; its kernel
    part names the trajectory kind); a ``step`` field's units are its value, or what the module's
    ``work_units(cfg, n_trajectories, length, **options)`` says (its floors, its scope)."""
    spec = get_method(method)
    if work_fields(method) is None:
        return []  # no cost model: the job counts as overhead only (listed by the CLI)
    key, fields = train_key(method, env, settings, episode_steps, threads)
    cfg = spec.make_config(dict(settings), env, episode_steps)
    custom = getattr(spec.import_module(), "work_units", None)
    share = fraction if traj == "cap" else 1.0
    units = custom(cfg, agents, episode_steps * share, **spec.options) if custom else {}
    out = [Work(Kernel("train", env, key, "fixed"), repeats)]
    for name, how in fields.items():
        part = f"{name}@{traj}" if how == "pass" else name
        value = units.get(name, float(getattr(cfg, name)) * (agents * share if how == "pass" else 1))
        out.append(Work(Kernel("train", env, key, part), repeats * value))
    return out


def policy_net(train: Mapping[str, Any]) -> dict[str, Any]:
    """What a d3rlpy policy's step costs depend on (algorithm, hidden layers), from a
    ``policies.<env>`` block or a train_policy job's ``train`` settings."""
    from persim.policies.train import PolicyConfig
    hidden = train.get("hidden_units") or PolicyConfig(algo=train["algo"], n_steps=1).hidden_units
    return {"algo": train["algo"], "hidden_units": [int(h) for h in hidden]}


def rollout_work(env: str, n_episodes: int, length: float, policy: Mapping[str, Any], threads: int = 1) -> list[Work]:
    """``n_episodes`` lock-step episodes of ``length`` steps under one d3rlpy ``policy`` (:func:`policy_net`)."""
    kernel = Kernel("rollout", env, _key(episodes=n_episodes, policy=dict(policy), threads=threads))
    return [Work(kernel, n_episodes * length), Work(kernel.fixed(), 1)]


def mpc_work(env: str, method: str, mpc: Mapping[str, Any], n_episodes: int, steps: float,
             config: Config, threads: int = 1) -> list[Work]:
    """``steps`` lock steps of ``n_episodes`` MPC episodes planned on ``method`` (or ``true_mpc``)."""
    sim = {} if method == "true_mpc" else method_settings(method, env, config)
    key = _key(method=method, mpc=dict(mpc), episodes=n_episodes, sim=sim,
               episode_steps=config["episode_steps"][env], threads=threads)
    kernel = Kernel("mpc", env, key)
    return [Work(kernel, steps), Work(kernel.fixed(), 1)]


# -- one function per rule: (job, config) -> work beyond the overhead ---------------------------

def _online(job: Job, config: Config) -> list[Work]:
    s, env = job.settings, job.settings["env"]
    train = dict(s["train"])
    n_steps = int(train["n_steps"])
    key = _key(algo=train.get("algo"), train={k: v for k, v in train.items()
                                              if k not in ("n_steps", "eval_interval", "eval_episodes")},
               episode_steps=s["max_episode_steps"], threads=job.threads)
    kernel = Kernel("online", env, key)
    return ([Work(kernel, n_steps), Work(kernel.fixed(), 1)]
            + rollout_work(env, int(train.get("eval_episodes", 10)),
                           greedy_evaluations(train) * s["max_episode_steps"], policy_net(train), job.threads))


def greedy_evaluations(train: Mapping[str, Any]) -> int:
    """Greedy evaluations of one online policy training (persim.policies.train_policy and its rule):
    every ``eval_interval`` steps after ``update_start_step``, one at the end, and the rule's own."""
    n, interval = int(train["n_steps"]), int(train.get("eval_interval") or 0)
    start = int(train.get("update_start_step", 0))
    periodic = sum(1 for step in range(interval, n + 1, interval) if step > start) if interval else 0
    return periodic + (1 if interval else 0) + 1


def _train(job: Job, config: Config) -> list[Work]:
    s = job.settings
    behaviour = job.wildcards.get("behaviour", s.get("behaviour", ""))
    return train_work(s["method"], s["env"], s["model"], n_agents(job, config), trajectory(behaviour, config),
                      s["max_episode_steps"], job.threads, fraction=dataset_length_fraction(s["env"], behaviour))


def _rank_cv(job: Job, config: Config) -> list[Work]:
    s = job.settings
    return train_work("persim", s["env"], s["model"], n_agents(job, config), trajectory(s["dataset"], config),
                      config["episode_steps"][s["env"]], job.threads, repeats=len(s["ranks"]),
                      fraction=dataset_length_fraction(s["env"], s["dataset"]))


def _mpc(job: Job, config: Config) -> list[Work]:
    s = job.settings
    episodes = n_test_agents(job, config) * s["n_seeds"] * s["n_episodes"]
    steps = s["max_episode_steps"] * length_fraction(s["env"], s["method"])
    return mpc_work(s["env"], s["method"], s["mpc"], episodes, steps, config, job.threads)


def _prediction(job: Job, config: Config) -> list[Work]:
    s, env = job.settings, job.settings["env"]
    n_rollouts = int(config["evaluation"]["prediction"]["n_rollouts"])
    kernel = Kernel("prediction", env, _key(method=s["method"], sim=method_settings(s["method"], env, config),
                                            rollouts=n_rollouts, warmup=s["warmup"], horizon=s["horizon"],
                                            feedback=s["feedback"], episode_steps=config["episode_steps"][env],
                                            threads=job.threads))
    return [Work(kernel, n_test_agents(job, config))]


def _synthetic(job: Job, config: Config) -> list[Work]:
    """Rule synthetic_trajectories: E = test agents x trajectories episodes in lock step, a planner call
    every H steps and one ensemble prediction per executed step (units: executed lock steps)."""
    s, env, method = job.settings, job.settings["env"], job.settings["simulator"]
    key = _key(method=method, mpc=dict(s["mpc"]), episodes=N_TEST_AGENTS * s["n_trajectories"],
               sim=method_settings(method, env, config), episode_steps=s["max_episode_steps"], threads=job.threads)
    kernel = Kernel("synthetic", env, key)
    return [Work(kernel, s["max_episode_steps"] * length_fraction(env, method)), Work(kernel.fixed(), 1)]


def _policy_eval(job: Job, config: Config) -> list[Work]:
    s, env = job.settings, job.settings["env"]
    episodes = n_test_agents(job, config) * s["n_seeds"] * s["n_episodes"]
    kernel = Kernel("policy_eval", env, _key(method=s["method"], settings=method_settings(s["method"], env, config),
                                             episodes=episodes, episode_steps=s["max_episode_steps"],
                                             threads=job.threads))
    length = s["max_episode_steps"] * length_fraction(env, s["method"])
    return [Work(kernel, episodes * length), Work(kernel.fixed(), 1)]


def _policy_evals(job: Job, config: Config) -> list[Work]:
    """Rule eval_policy_rewards: every method's evaluation, one after the other in one job."""
    return [w for s in job.settings["methods"].values()
            for w in _policy_eval(replace(job, settings=s), config)]


def _dataset(job: Job, config: Config) -> list[Work]:
    s, env, behaviour = job.settings, job.settings["env"], job.wildcards["behaviour"]
    n, random = n_agents(job, config), trajectory(behaviour, config) == "random"
    policies = 0 if random else len(get_spec(env).logging_policy_names)
    kernel = Kernel("dataset", env, _key(episodes=n, policies=policies, episode_steps=s["max_episode_steps"],
                                         policy=None if random else policy_net(config["policies"][env]),
                                         threads=job.threads))
    length = 1.0 if random else s["max_episode_steps"] * dataset_length_fraction(env, behaviour)
    return [Work(kernel, n * length), Work(kernel.fixed(), 1)]


def _test_rollouts(job: Job, config: Config) -> list[Work]:
    s = job.settings  # per agent, n_rollouts lock-step rollouts of warmup + horizon steps
    return rollout_work(s["env"], s["n_rollouts"], n_test_agents(job, config) * (s["warmup"] + s["horizon"]),
                        policy_net(config["policies"][s["env"]]), job.threads)


REPORT_FAMILIES = {"figure_tsne": "tsne", "figure_trajectories": "trajectories", "comparison": "comparison",
                   **{rule: "tables" for rule in ("reward_tables", "prediction_tables", "table5", "policy_returns",
                                                  "table3", "scarcity_tables", "unseen_tables")}}


def _report(job: Job, config: Config) -> list[Work]:
    """One job of a report family (:data:`REPORT_FAMILIES`). A table job reads one result file per
    upstream job (units: its dependencies, plus its ``fixed`` part); the comparison adds its bootstrap
    (``n_boot``); the t-SNE's cost grows with its agents; the trajectories figure is one unit."""
    family = REPORT_FAMILIES[job.rule]
    if family in TABLE_FAMILIES:
        size = {"n_boot": int(job.settings.get("n_boot", 0))} if family == "comparison" else {}
        kernel = Kernel("report", "", _key(family=family, threads=job.threads, **size))
        return [Work(kernel, float(len(job.deps))), Work(kernel.fixed(), 1.0)]
    env = job.settings.get("env") or job.wildcards["env"]
    size = {"agents": n_agents(job, config)} if family == "tsne" else {}
    return [Work(Kernel("report", env, _key(family=family, threads=job.threads, **size)), 1.0)]


RULE_WORK: dict[str, Callable[[Job, Config], list[Work]]] = {
    "train_policy": _online,
    "train_simulator": _train, "train_simulator_seed": _train, "scarcity_train_simulator": _train,
    "train_policy_set": _train, "scarcity_train_policy_set": _train,
    "rank_cv": _rank_cv,
    "eval_reward": _mpc, "eval_reward_reference": _mpc, "eval_reward_true_env": _mpc,
    "eval_reward_true_env_reference": _mpc,
    "eval_reward_unseen": _mpc, "scarcity_eval_reward": _mpc,
    "synthetic_trajectories": _synthetic,
    "eval_prediction": _prediction, "eval_prediction_unseen": _prediction,
    "eval_policy_reward": _policy_eval, "eval_policy_reward_unseen": _policy_eval, "eval_policy_rewards": _policy_evals,
    "scarcity_eval_policy_reward": _policy_eval,
    "dataset": _dataset, "scarcity_dataset": _dataset,
    "test_rollouts": _test_rollouts, "test_rollouts_unseen": _test_rollouts,
    **{rule: _report for rule in REPORT_FAMILIES},
}


def job_work(job: Job, config: Config, served: bool | None = None) -> list[Work]:
    """The job's work: its start-up (``served``: see :func:`overhead_kernel`) plus, for the rules in
    :data:`RULE_WORK`, what its settings ask for. Every other rule (agent tables, the target ``all``)
    costs its start-up, which the overhead kernel covers."""
    fn = RULE_WORK.get(job.rule)
    return [Work(overhead_kernel(served), 1.0)] + (fn(job, config) if fn else [])


def run_start(served: bool | None = None) -> list[Work]:
    """Once per run: the job server's start-up (its preload), paid by whichever job Snakemake starts
    first, so by no stage in particular; nothing without the server."""
    return [Work(SERVED_START, 1.0)] if overhead_kernel(served) == SERVED_OVERHEAD else []


def overhead_kernel(served: bool | None = None) -> Kernel:
    """A job's start-up: a fresh Python and its imports (``served=False``: a cluster, or Snakemake
    without the job server), or a fork of the warm job server (``served=True``: ``make quick / smoke``).
    None: as this process's ``PERSIM_JOB_SERVER`` says."""
    return SERVED_OVERHEAD if (jobserver.enabled() if served is None else served) else OVERHEAD


def modelled_methods() -> dict[str, bool]:
    """method name -> whether its module declares ``WORK_FIELDS`` (a training cost model)."""
    return {name: work_fields(name) is not None for name in METHODS}
