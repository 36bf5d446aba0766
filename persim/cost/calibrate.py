"""Seconds per unit of each kernel on this machine, measured by running the package's own code small.

Every kernel is timed at two sizes (one pass or update count and three times it, a few and more
lock steps) so that its per-unit cost and its once-per-job set-up separate: ``cost = fixed + units x
per_unit``. Training runs the method's real ``train`` (through the registry) on a real ``random``
dataset of a few thousand transitions generated here; MPC plans with the real planner on the
simulator that calibration trained (or the true dynamics); rollouts step the real envs under a
2 x 256 MLP policy. Results are cached per machine, torch threads and device in a JSON file.
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import torch

from persim import jobserver
from persim.benchmark import mlp_policy
from persim.cost.report_work import TABLE_FAMILIES
from persim.cost.work import Kernel
from persim.data.rollout import PolicyActor, rollout
from persim.data.schema import load_dataset, write_dataset
from persim.envs import get_spec, make
from persim.envs.agents import sample_agents
from persim.methods import REGISTRY

LOG = logging.getLogger("persim.cost")
ROWS = 4000                # transitions of the calibration dataset per env (about)
# Lock-step batch sizes timed; larger ones scale linearly. A policy evaluation is timed at up to 200 episodes:
# its per-episode cost falls with the batch (HalfCheetah BCQ, 100 episodes: 0.79 s per 1k episode-steps timed at
# 50 episodes, 0.61 s at 100, the quick run's jobs ~0.60 s), and 15 steps of 200 episodes take seconds.
MAX_EPISODES = {"rollout": 50, "policy_eval": 200, "mpc": 20}
LONG_CAP, MIN_ROWS = 200, 5000  # a dataset kernel's long run: its episode cap, the transitions it writes at least
IMPORTS = "import snakemake.script, persim.workflow, pandas, pyarrow.parquet, gymnasium, d3rlpy, torch"
CONTENTION_WORKLOAD = """
import time, torch, gymnasium as gym
torch.set_num_threads(1)
net = torch.nn.Sequential(torch.nn.Linear(8, 256), torch.nn.ReLU(), torch.nn.Linear(256, 8))
opt = torch.optim.Adam(net.parameters())
x = torch.randn(512, 8)
env = gym.make("CartPole-v1")
t = time.perf_counter()
for _ in range(300):
    loss = (net(x) - x).pow(2).mean(); opt.zero_grad(); loss.backward(); opt.step()
env.reset(seed=0)
for _ in range(20000):
    _, _, term, trunc, _ = env.step(env.action_space.sample())
    if term or trunc:
        env.reset()
print(time.perf_counter() - t)
"""
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
REPORT_INPUTS = (10, 100)  # input files a table family is timed with
REPORT_JOB = """
import sys, time, warnings
from pathlib import Path
sys.path.insert(0, {root!r})
warnings.simplefilter("ignore")
import {preload}
from persim.cost.report_work import TABLE_FAMILIES, workload, write_inputs
if {family!r} in TABLE_FAMILIES:
    write_inputs({env!r}, {size}, Path({outdir!r}))  # the run's result files: there before the job starts
start = time.perf_counter()
workload({family!r}, {env!r}, {size}, {outdir!r}, n_boot={n_boot})
print(time.perf_counter() - start)
"""
STEP_BASE = {"n_steps": 30, "iterations": 1, "dyn_min_steps": 10}  # base value of each "step" field (then x3)
MIN_RUN_S = 0.5            # a timed training run shorter than this is repeated with more work
SCHEDULER_JOBS = (10, 60)  # sizes of the trivial workflow the scheduler kernel times
SCHEDULER_SNAKEFILE = """
rule all:
    input: expand("out/{i}.txt", i=range(int(config["n_jobs"])))
rule one:
    output: "out/{i}.txt"
    benchmark: "bench/{i}.tsv"
    shell: "echo {wildcards.i} > {output}"
"""


def machine_id(device: str) -> str:
    """What the figures are valid for: CPU model, core count, torch, device (threads are in each kernel)."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = torch.cuda.get_device_name(device) if device.startswith("cuda") else ""
    return f"{cpu} x{os.cpu_count()} | torch {torch.__version__} | {device} {gpu}".strip()


# A kind's calibration procedure changed: its cached figures no longer count (kinds absent: 1).
# mpc 2: timed past the first steps and past a context simulator's history. contention 2: medians of 3.
# overhead 2: the server start-up. rollout 2: a d3rlpy policy (was an MLP). dataset 2: short cap 1, best of 5.
# mpc 3: PerSim's discrete step on the fused C kernel (persim.models.native_step).
# dataset 3: the long run to 200 steps (was: within the shortest episode), repeated to >= 5,000 transitions.
# policy_eval 2: timed at up to 200 lock-step episodes (was 50), best of 3 (was 2; one HalfCheetah BCQ figure
# came out 1.4x its repeats'). rollout 3: best of 3.
METHOD_VERSION = {"mpc": 3, "contention": 2, "overhead": 2, "rollout": 3, "dataset": 3, "policy_eval": 2}


def kernel_id(kernel: Kernel) -> str:
    version = METHOD_VERSION.get(kernel.kind, 1)
    return json.dumps([kernel.kind, kernel.env, kernel.key]) + (f"#v{version}" if version > 1 else "")


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence d3rlpy / gymnasium chatter and warnings while timing."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def short_and_long(best: Callable[[int, int], tuple[float, int]], short: int, long: int, reps: int,
                   what: str, tries: int = 3) -> tuple[tuple[float, int], tuple[float, int]]:
    """``(best(short, reps), best(long, reps))``, each ``(seconds per job, transitions written)``, timed
    again with twice the repetitions (up to ``tries`` times) while the long run is timed no slower than
    the short one: a busy machine's noise can hide the cost of the long run's extra transitions. If it
    still does after ``tries``, a warning names ``what`` and the caller's per-transition time becomes 0."""
    if tries < 1:
        raise ValueError(f"short_and_long: tries must be >= 1, got {tries}")
    for _ in range(tries):
        a, b = best(short, reps), best(long, reps)
        if b[0] > a[0]:
            return a, b
        reps *= 2
    LOG.warning("calibration of %s: %d-step runs timed no slower than %d-step runs in %d tries (a busy "
                "machine?); its time per transition is taken as 0", what, long, short, tries)
    return a, b


class Calibrator:
    """Measures kernels on one device (each at its job's torch threads); keeps the data and models it made."""

    def __init__(self, device: str = "cpu", seed: int = 0):
        self.device, self.seed = device, seed
        self._data: dict[tuple[str, int], tuple[Any, pd.DataFrame, float]] = {}  # (env, cap) -> data, agents, length
        self._models: dict[str, Any] = {}   # train kernel key -> what the calibration trained
        self._warm: set[tuple[str, str]] = set()  # (method module, env) already run once in this process

    # -- shared inputs -------------------------------------------------------------------------
    def calibration_data(self, env: str, cap: int) -> tuple[Any, pd.DataFrame, float]:
        """(dataset, agents, mean random-trajectory length) for ``env`` with episode cap ``cap``:
        uniform-random actions, enough agents for about :data:`ROWS` transitions (test agents included)."""
        if (env, cap) not in self._data:
            from persim.data.generate import generate_dataset
            spec = get_spec(env)
            n, frame = 10, None
            for _ in range(2):  # probe the mean length, then size the agent count
                agents = sample_agents(spec, n, self.seed)
                with _quiet():
                    frame = generate_dataset(env, agents, "random", 1.0, self.seed, {}, max_episode_steps=cap)
                length = len(frame) / n
                if len(frame) >= ROWS // 2:
                    break
                n = max(n, math.ceil(ROWS / length))
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "calibration.parquet"
                write_dataset(frame, path, {"env": env, "behaviour": "random", "calibration": True})
                ds = load_dataset(path, env=env, n_agents=len(agents))
            self._data[(env, cap)] = (ds, agents, len(frame) / len(agents))
        return self._data[(env, cap)]

    # -- kernels -------------------------------------------------------------------------------
    def overhead(self, served: bool = False) -> dict[str, float]:
        """A job's start-up: a fresh Python importing what a rule's script imports (best of 2); with
        ``served``, a job handed to a warm job server that forks and imports the same (best of 3,
        after the job that started the server), and ``start``: what the first job, which starts the
        server, pays on top (its preload, once per run)."""
        if not served:
            times = [_timed(lambda: subprocess.run([sys.executable, "-c", IMPORTS], check=True,
                                                   capture_output=True))[0] for _ in range(2)]
            return {"": min(times)}
        with tempfile.TemporaryDirectory() as root:
            script = Path(root) / "job.py"
            script.write_text(f"import sys\nsys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
                              f"from persim.jobserver import delegate\ndelegate({root!r})\n{IMPORTS}\n")
            env = {**os.environ, jobserver.ENV_FLAG: "1"}
            job = lambda: subprocess.run([sys.executable, str(script)], env=env, check=True,  # noqa: E731
                                         capture_output=True)
            try:
                first = _timed(job)[0]  # starts the server: its preload
                times = [_timed(job)[0] for _ in range(3)]
            finally:
                jobserver.stop(root)
        return {"": min(times), "start": max(0.0, first - min(times))}

    def scheduler(self, env: str, payload: dict[str, Any]) -> dict[str, float]:
        """Snakemake's own seconds per job, outside the job's benchmark (choosing, starting and reaping
        it, checking and recording its outputs): a workflow of trivial jobs (one benchmarked ``echo``
        each) run by this Python's snakemake on 1 core at two sizes after a warm-up; per job = difference / extra jobs."""
        def run(n: int) -> float:
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "Snakefile").write_text(SCHEDULER_SNAKEFILE)
                cmd = [sys.executable, "-m", "snakemake", "--snakefile", "Snakefile", "--cores", "1", "--quiet",
                       "all", "--config", f"n_jobs={n}"]
                return _timed(lambda: subprocess.run(cmd, cwd=tmp, check=True, capture_output=True))[0]

        small, large = SCHEDULER_JOBS
        run(2)  # warm-up: the first snakemake start reads its modules from disk
        t_small, t_large = run(small), run(large)
        return {"": max(0.0, (t_large - t_small) / (large - small))}

    def train(self, env: str, payload: dict[str, Any]) -> dict[str, float]:
        """Seconds per unit of each work field of one method's training, and its fixed part."""
        module, options = payload["module"], payload["options"]
        spec = next(m for m in REGISTRY if m.module == module and dict(m.options) == options)
        cap = int(payload["episode_steps"])
        ds, agents, length = self.calibration_data(env, cap)
        fields = spec.import_module().WORK_FIELDS
        base = {name: (1 if how == "pass" else STEP_BASE.get(name, 10)) for name, how in fields.items()}
        # the module's CALIBRATION_SETTINGS keep a timed run doing exactly the work asked (no early stop)
        settings = {**payload["settings"], **getattr(spec.import_module(), "CALIBRATION_SETTINGS", {})}

        def run(values: dict[str, int]):
            extra = {"n_steps_per_epoch": values["n_steps"]} if "n_steps" in values else {}
            cfg = spec.make_config({}, env, cap)
            known = {f.name for f in dataclasses.fields(cfg)}
            cfg = dataclasses.replace(cfg, **{k: v for k, v in {**settings, **values, **extra}.items() if k in known})
            torch.manual_seed(self.seed)
            with _quiet():
                return _timed(lambda: spec.train(ds, agents, cfg, self.seed, self.device, LOG))

        t_base, (model, _) = run(base)
        if (module, env) not in self._warm:  # the first call pays one-off costs (lazy imports, first kernels)
            self._warm.add((module, env))
            t_base, (model, _) = run(base)
        if t_base < MIN_RUN_S:  # too short to time: scale every field up so the base run lasts ~MIN_RUN_S
            grow = min(20, math.ceil(MIN_RUN_S / max(t_base, 1e-3)))
            base = {name: v * grow for name, v in base.items()}
            t_base, (model, _) = run(base)
        self._models[json.dumps([env, payload], sort_keys=True, default=str)] = model
        out, fixed = {}, t_base
        for name, how in fields.items():
            t_more, _ = run({**base, name: 3 * base[name]})
            per = max(0.0, (t_more - t_base) / (2 * base[name]))
            fixed -= per * base[name]
            if how == "pass":  # per pass over one trajectory: per row x trajectory length
                per_row = per / ds.n_transitions
                out[f"{name}@random"], out[f"{name}@cap"] = per_row * length, per_row * cap
            else:
                out[name] = per
        out["fixed"] = max(0.0, fixed)
        return out

    def trained(self, env: str, method: str, settings: dict[str, Any], cap: int):
        """The simulator or policy set of ``method`` the calibration trained (for timing what uses it)."""
        from persim.cost.work import train_key
        key, _ = train_key(method, env, settings, cap)
        payload = json.loads(key)
        tag = json.dumps([env, payload], sort_keys=True, default=str)
        if tag not in self._models:
            self.train(env, payload)
        return self._models[tag]

    def test_episodes(self, env: str, cap: int, n: int) -> tuple[np.ndarray, list[dict[str, float]]]:
        """Agent ids ``[n]`` and covariates of n episodes over the calibration's test agents, in turn."""
        _, agents, _ = self.calibration_data(env, cap)
        test, spec = agents.query("test_agent > 0"), get_spec(env)
        rows = test.iloc[np.arange(n) % len(test)]
        return rows["agent_id"].to_numpy(), [{c: float(r[c]) for c in spec.covariates} for _, r in rows.iterrows()]

    def mpc(self, env: str, payload: dict[str, Any]) -> dict[str, float]:
        """Seconds per lock step of E MPC episodes (planner call + env step), and the set-up."""
        from persim.evaluation.reward import evaluate_mpc, model_step_factory, true_step_factory
        from persim.planning.factory import make_planner
        cap, method, mpc = int(payload["episode_steps"]), payload["method"], payload["mpc"]
        sim = None if method == "true_mpc" else self.trained(env, method, payload["sim"], cap)
        n_cand = mpc["n_candidates"]

        def run(n_episodes: int, steps: int) -> float:
            ids, covs = self.test_episodes(env, cap, n_episodes)
            planner = make_planner(env, mpc, 1 if sim is None else sim.planning_members, self.seed)
            factory = (true_step_factory(env, covs, n_cand) if sim is None
                       else model_step_factory(sim, ids, n_cand, seed=self.seed))
            with _quiet():
                return _timed(lambda: evaluate_mpc(env, covs, planner, factory, n_episodes, self.seed,
                                                   max_episode_steps=steps, device=self.device,
                                                   history_length=0 if sim is None else sim.context_length))[0]

        want = int(payload["episodes"])
        first = mpc_steps(0 if sim is None else sim.context_length)
        probe = run(1, first[0])
        n = int(max(1, min(want, MAX_EPISODES["mpc"], 2.0 * first[0] // max(probe, 1e-3))))
        t_a, t_b = run(n, first[0]), run(n, first[1])
        per = max(0.0, (t_b - t_a) / (first[1] - first[0]))
        return {"": per * want / n, "fixed": max(0.0, t_a - per * first[0])}  # set-up: planner, models, envs

    def synthetic(self, env: str, payload: dict[str, Any]) -> dict[str, float]:
        """Seconds per executed lock step of E synthetic episodes (:func:`persim.augmentation.synthesize`
        on the simulator the calibration trained: a planner call every H steps, one ensemble
        prediction per step), and the set-up; from caps of 2H and 8H, best of 2 each, after a warm-up
        that sizes the batch (E up to 20; the per-step cost scales linearly to the job's E)."""
        from persim.augmentation import synthesize
        cap, mpc = int(payload["episode_steps"]), payload["mpc"]
        sim = self.trained(env, payload["method"], payload["sim"], cap)
        want, h = int(payload["episodes"]), int(mpc["horizon"])

        def run(n_episodes: int, steps: int) -> float:
            ids, covs = self.test_episodes(env, cap, n_episodes)
            with _quiet():
                return _timed(lambda: synthesize(sim, env, ids, covs, mpc, min(steps, cap), self.seed))[0]

        probe = run(1, h)  # warm-up; one planner call of one episode sizes the batch (~2 s per call at most)
        n = int(max(1, min(want, MAX_EPISODES["mpc"], 2.0 // max(probe, 1e-3))))
        short, long = min(2 * h, cap), min(8 * h, cap)
        t_a, t_b = min(run(n, short) for _ in range(2)), min(run(n, long) for _ in range(2))
        per = max(0.0, (t_b - t_a) / max(long - short, 1))
        return {"": per * want / n, "fixed": max(0.0, t_a - per * short)}

    def prediction(self, env: str, payload: dict[str, Any]) -> dict[str, float]:
        """Seconds of one test agent's prediction evaluation (the simulator rolled open loop over R
        rollouts of warm-up + horizon steps of a 2 x 256 MLP policy: the cost does not depend
        on the policy), best of two after a warm-up."""
        from persim.evaluation.prediction import collect_rollouts, evaluate_prediction
        cap = int(payload["episode_steps"])
        sim = self.trained(env, payload["method"], payload["sim"], cap)
        _, agents, _ = self.calibration_data(env, cap)
        row = agents.query("test_agent > 0").iloc[0]
        spec = get_spec(env)
        warmup, horizon = int(payload["warmup"]), int(payload["horizon"])
        ro = collect_rollouts(env, {c: float(row[c]) for c in spec.covariates},
                              mlp_policy(env, self.seed), int(payload["rollouts"]), warmup + horizon, self.seed)

        def run() -> float:
            return _timed(lambda: evaluate_prediction(sim, int(row["agent_id"]), ro, warmup, horizon,
                                                      payload["feedback"]))[0]

        run()  # warm-up
        return {"": min(run(), run())}

    def policies(self, env: str, policy: dict[str, Any], names: Iterable[str], root: str | Path) -> dict[str, Path]:
        """Files ``root/<name>.d3`` of untrained d3rlpy policies with ``policy``'s algorithm and hidden
        layers (:func:`persim.cost.work.policy_net`): saved, loaded and run as trained ones are."""
        from persim.policies import PolicyConfig
        from persim.policies.train import build_policy
        with _quiet():
            algo = build_policy(env, PolicyConfig(n_steps=1, **policy), device="cpu")
        files = {name: Path(root) / f"{name}.d3" for name in names}
        for path in files.values():
            algo.save(str(path))
        return files

    def rollout(self, env: str, payload: dict[str, Any]) -> dict[str, float]:
        """Seconds per env step of E episodes in lock step under a d3rlpy policy of the payload's
        networks, and the set-up (loading the policy file, making the envs)."""
        from persim.policies import load_policy
        want = int(payload["episodes"])
        with tempfile.TemporaryDirectory() as tmp:
            path = self.policies(env, payload["policy"], ["policy"], tmp)["policy"]
            load_s, act = _timed(lambda: load_policy(path))
            per_step, fixed = _lockstep_fit(env, min(want, MAX_EPISODES["rollout"]), want,
                                            lambda: PolicyActor([act]))
        return {"": per_step, "fixed": fixed + load_s}

    def dataset(self, env: str, payload: dict[str, Any]) -> dict[str, float]:
        """A dataset job as its rule runs it: :func:`~persim.data.generate.generate_dataset` (wrapped
        envs; one d3rlpy policy per logging policy, loaded from its file, each acting for its agents,
        or uniform-random actions) and :func:`~persim.data.schema.write_dataset`, timed at two episode
        caps. Seconds per transition (per agent trajectory of the measured mean length for ``random``)
        and the set-up; both from E = min(episodes, 50) agents, the set-up scaled to all of them."""
        from persim.data.generate import generate_dataset
        from persim.policies import load_policy
        want, cap = int(payload["episodes"]), int(payload["episode_steps"])
        n = min(want, MAX_EPISODES["rollout"])
        agents = sample_agents(get_spec(env), n, self.seed)
        policy = payload.get("policy")
        logging = get_spec(env).logging_policy_names[:int(payload.get("policies", 0))]
        names = sorted(set(agents["logging_policy"]) | set(logging)) if policy else []  # the rule loads them all

        with tempfile.TemporaryDirectory() as tmp:
            files = self.policies(env, policy, names, tmp) if policy else {}

            def job(steps: int) -> tuple[float, pd.DataFrame]:
                def body() -> pd.DataFrame:
                    acts = {name: load_policy(path) for name, path in files.items()}
                    frame = generate_dataset(env, agents, "pure" if policy else "random", 0.0 if policy else 1.0,
                                             self.seed, acts, max_episode_steps=steps)
                    write_dataset(frame, Path(tmp) / "dataset.parquet", {"env": env, "calibration": True})
                    return frame
                with _quiet():
                    return _timed(body)

            # caps 1 and up to 200 steps, the rows each run wrote counted: where episodes end early (an
            # untrained CartPole policy falls within ~5-10 steps) the two runs differ by a few hundred
            # transitions, a few ms against a job's ~40 ms of set-up; so a run repeats the job until the
            # long one writes >= 5,000 transitions, and each cap keeps its best of 5 runs
            long, short = min(cap, LONG_CAP), 1
            rows_long = len(job(long)[1])  # also the warm-up
            reps = max(1, math.ceil(MIN_ROWS / max(rows_long, 1)))

            def best(steps: int, reps: int) -> tuple[float, int]:
                runs = [[job(steps) for _ in range(reps)] for _ in range(5)]
                return min(sum(t for t, _ in r) for r in runs) / reps, len(runs[-1][-1][1])

            (t_a, rows_a), (t_b, rows_b) = short_and_long(best, short, long, reps, f"the {env} dataset kernel")
        per_row = max(0.0, (t_b - t_a) / max(rows_b - rows_a, 1))
        fixed = max(0.0, t_a - per_row * rows_a) * want / n
        if policy:
            return {"": per_row, "fixed": fixed}
        _, _, length = self.calibration_data(env, cap)
        return {"": per_row * length, "fixed": fixed}

    def policy_eval(self, env: str, payload: dict[str, Any]) -> dict[str, float]:
        """Seconds per env step of a trained policy set acting greedily, E episodes in lock step (each
        test agent's episodes use its own policy, as the evaluation does), and the set-up."""
        cap = int(payload["episode_steps"])
        policies = self.trained(env, payload["method"], payload["settings"], cap)
        _, agents, _ = self.calibration_data(env, cap)
        ids = agents.query("test_agent > 0")["agent_id"].to_numpy()
        want = int(payload["episodes"])
        n = min(want, MAX_EPISODES["policy_eval"])
        index = np.arange(n) % len(ids)

        per_step, fixed = _lockstep_fit(env, n, want,
                                        lambda: PolicyActor([policies.actor(int(a)) for a in ids], index))
        return {"": per_step, "fixed": fixed}

    def report(self, env: str, payload: dict[str, Any]) -> dict[str, float]:
        """Seconds of one table / figure / report job beyond its start-up: its family's workload
        (:mod:`persim.cost.report_work`) in a fresh Python that has first imported what the job server
        preloads (matplotlib, scikit-learn and the reporting modules are the job's own), at the job's
        thread variables; best of 2. Table families are timed at two input counts: seconds per input
        file (``""``) and per job (``fixed``); figures per job (``""``)."""
        family = payload["family"]

        def run(size: int) -> float:
            with tempfile.TemporaryDirectory() as tmp:
                script = REPORT_JOB.format(root=str(Path(__file__).resolve().parents[2]),
                                           preload=", ".join(jobserver.PRELOAD), family=family,
                                           env=env or "mountaincar", size=size, outdir=tmp,
                                           n_boot=int(payload.get("n_boot", 0)))
                threads = str(payload.get("threads", 1))  # as Snakemake sets them for a job of that many threads
                env_vars = {**os.environ, **{v: threads for v in THREAD_VARS}}
                return min(float(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                                                text=True, env=env_vars).stdout.strip().splitlines()[-1])
                           for _ in range(2))

        if family not in TABLE_FAMILIES:
            return {"": run(int(payload.get("agents", 1)))}
        small, large = REPORT_INPUTS
        t_small, t_large = run(small), run(large)
        per = max(0.0, (t_large - t_small) / (large - small))
        return {"": per, "fixed": max(0.0, t_small - per * small)}

    def online(self, env: str, payload: dict[str, Any]) -> dict[str, float]:
        """Seconds per env step of online policy training (d3rlpy; updates included), and the set-up
        (negative when the steps before the first update are cheaper than those after)."""
        from persim.policies import PolicyConfig, train_policy
        train = dict(payload["train"])
        start = max(int(train.get("update_start_step", 0)), int(train.get("random_steps", 0)))
        cov = get_spec(env).covariate_dict(get_spec(env).policy_covariates("test"))

        def run(n_steps: int) -> float:
            cfg = PolicyConfig(**{**train, "n_steps": n_steps, "n_steps_per_epoch": min(n_steps, 1000),
                                  "eval_interval": 0, "eval_episodes": 1})
            with _quiet():
                return _timed(lambda: train_policy(env, cov, cfg, seed=self.seed,
                                                   max_episode_steps=int(payload["episode_steps"]),
                                                   device=self.device))[0]

        run(100)  # warm-up: d3rlpy's import and first network build are not per step
        t_a, t_b = run(start + 500), run(start + 2000)
        per = max(0.0, (t_b - t_a) / 1500)
        return {"": per, "fixed": t_a - per * (start + 500)}

    def contention(self, env: str, payload: dict[str, Any]) -> dict[str, float]:
        """How much slower a job runs while ``cores`` single-thread jobs share the machine: the same
        1-thread workload (MLP training steps, Python-level env steps) timed alone and ``cores`` at once."""
        cores = int(payload["cores"])

        def batch(n: int) -> float:
            procs = [subprocess.Popen([sys.executable, "-c", CONTENTION_WORKLOAD], stdout=subprocess.PIPE, text=True)
                     for _ in range(n)]
            return max(float(p.communicate()[0].strip().splitlines()[-1]) for p in procs)

        # medians of 3: one sample of each swung 1.05x-1.6x between runs an hour apart on a shared VM
        alone = float(np.median([batch(1) for _ in range(3)]))
        together = float(np.median([batch(cores) for _ in range(3)])) if cores > 1 else alone
        return {"": max(1.0, together / alone)}

    def measure(self, kernel: Kernel) -> dict[str, float]:
        """``{part: seconds per unit}`` of ``kernel`` ("" = its main unit, "fixed" = per job)."""
        torch.set_num_threads(int(kernel.payload().get("threads", 1)))
        if kernel.kind == "overhead":
            return self.overhead(bool(kernel.payload().get("served")))
        if kernel.kind == "scheduler":
            return self.scheduler("", {})
        return getattr(self, kernel.kind)(kernel.env, kernel.payload())


def mpc_steps(context_length: int) -> tuple[int, int]:
    """The two episode lengths an MPC kernel is timed at: both past the first steps (a planner's
    first calls cost more) and past a context simulator's K-step history (until it is full, CaDM
    skips part of its context encoding, so early steps cost less than the rest)."""
    first = max(3, context_length + 2)
    return first, first + 6


def _lockstep_fit(env: str, n: int, want: int, actor: Callable[[], PolicyActor]) -> tuple[float, float]:
    """(seconds per env step, set-up seconds for ``want`` episodes) of ``n`` episodes of ``env`` in lock
    step under ``actor()``, from the best of 3 runs of 5 and of 15 steps after a 1-step warm-up (env
    creation scales with episodes, so the set-up is scaled by ``want / n``)."""
    def run(steps: int) -> float:
        envs = [make(env).unwrapped for _ in range(n)]
        act = actor()
        with _quiet():
            return _timed(lambda: rollout(envs, list(range(n)), act, n_steps=steps))[0]

    run(1)  # warm-up: first-call costs are not per step
    t5, t15 = min(run(5) for _ in range(3)), min(run(15) for _ in range(3))  # best of 3: a busy machine's noise
    per_step = max(0.0, (t15 - t5) / (10 * n))
    return per_step, max(0.0, t5 - 5 * n * per_step) * want / n


class CacheError(ValueError):
    """The calibration cache file cannot be used; the message names the file and what to do."""


def read_cache(path: Path) -> dict[str, Any]:
    """The cache file's {machine id: {kernel id: {part: seconds}}} ({} if there is none yet); a file that
    cannot be read, is not JSON or is not such a mapping raises :class:`CacheError` naming it (the file
    is left as it is: it may hold hours of measurements)."""
    if not path.exists():
        return {}
    fix = "delete it (its kernels are measured again) or pass another --cache"
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CacheError(f"calibration cache {path} is not valid JSON ({exc}); {fix}") from exc
    except OSError as exc:
        raise CacheError(f"calibration cache {path} cannot be read ({exc.strerror}); pass another --cache") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CacheError(f"calibration cache {path} is not a cache (a JSON object of machines' kernels); {fix}")
    return data


class CalibrationCache:
    """Measured kernels in a JSON file: {machine id: {kernel id: {part: seconds per unit}}}."""

    def __init__(self, path: str | Path, machine: str):
        """Read ``path`` (raises :class:`CacheError` naming it if it is not a cache) for ``machine``."""
        self.path, self.machine = Path(path), machine
        self.data = read_cache(self.path)
        self.entries: dict[str, dict[str, float]] = self.data.setdefault(machine, {})

    def missing(self, kernels: Iterable[Kernel]) -> list[Kernel]:
        seen, out = set(), []
        for k in kernels:
            kid = kernel_id(k)
            if kid not in self.entries and kid not in seen:
                seen.add(kid)
                out.append(k)
        return out

    def measure(self, kernels: list[Kernel], calibrator: Calibrator, log: Callable[[str], None] = print) -> None:
        order = {"overhead": 0, "contention": 0, "scheduler": 0, "online": 1, "rollout": 2, "dataset": 2, "train": 3}  # MPC, policy_eval reuse trained models
        todo = sorted(kernels, key=lambda k: order.get(k.kind, 9))
        start = time.perf_counter()
        for i, k in enumerate(todo, 1):
            t, parts = _timed(lambda: calibrator.measure(k))
            self.entries[kernel_id(k)] = parts
            self.save()
            log(f"  calibrated {i}/{len(todo)} {k.label():<40s} {t:6.1f} s  "
                + ", ".join(f"{p or 'per unit'} {v:.3g}" for p, v in sorted(parts.items())))
        if todo:
            log(f"  calibration took {time.perf_counter() - start:.0f} s")

    def seconds(self, kernel: Kernel) -> float:
        """Seconds per unit of ``kernel`` (its ``part``)."""
        return float(self.entries[kernel_id(kernel)][kernel.part])

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=1, sort_keys=True))
