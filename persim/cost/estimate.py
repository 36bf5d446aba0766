"""A profile's estimated cost: per job (seconds from work x calibrated seconds per unit), per stage, and
as wall time on N cores and G GPUs; beside it, what a finished run's benchmark files recorded."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from persim.cost.jobs import Job
from persim.cost.schedule import Task, makespan
from persim.cost.work import Kernel, Work

STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (  # stage -> rule names ("x_": every rule starting so)
    ("logging + test policies", ("train_policy",)),
    ("Table 3 (augmentation)", ("synthetic_trajectories", "table3")),
    ("Tables 14-16 (scarcity)", ("scarcity_",)),
    ("Tables 12-13 (unseen agents)", ("unseen_", "test_rollouts_unseen", "eval_prediction_unseen",
                                      "eval_reward_unseen", "eval_policy_reward_unseen")),
    ("datasets + test rollouts", ("dataset", "test_rollouts", "agents")),
    ("simulator training + rank CV", ("train_simulator", "train_simulator_seed", "rank_cv")),
    ("policy-set training (BCQ/CQL/MOReL)", ("train_policy_set",)),
    ("MPC reward evaluation", ("eval_reward", "eval_reward_reference", "eval_reward_true_env",
                               "eval_reward_true_env_reference")),
    ("policy reward evaluation", ("eval_policy_reward", "eval_policy_rewards")),
    ("prediction evaluation", ("eval_prediction",)),
)
OTHER_STAGE = "tables, figures, report"
# Historical, measured elsewhere: `python -m persim.benchmark` on one H200 (torch 2.11, CUDA 13,
# 2026-11-30) against this project's 2-core CPU machine at 1 thread (both in the issue-16 note).
# GPU time = CPU time / ratio. Only these four kernels were measured; every other kernel (CaDM
# training, Vanilla CaDM planning, d3rlpy's BCQ / CQL / DQN / TD3, MOReL, the true-dynamics planner)
# keeps ratio 1, i.e. is counted at CPU speed.
H200_RATIOS = {
    "mpc:persim:discrete": 55.0 / 13.1, "mpc:persim:continuous": 1142.4 / 104.6,
    "mpc:cadm_pets": 3532.0 / 37.9, "train:persim.models.persim": 1445.8 / 412.0,
}


def stage_of(rule: str) -> str:
    for stage, prefixes in STAGES:
        if any(rule == p or (p.endswith("_") and rule.startswith(p)) for p in prefixes):
            return stage
    return OTHER_STAGE


def gpu_ratio(kernel: Kernel, ratios: Mapping[str, float]) -> float:
    """How much faster ``kernel`` runs on the GPU (1 where nothing was measured)."""
    p = kernel.payload()
    if kernel.kind == "mpc":
        method = p.get("method", "")
        kind = "continuous" if p.get("mpc", {}).get("cem_iterations") else "discrete"
        return ratios.get(f"mpc:{method}:{kind}", ratios.get(f"mpc:{method}", 1.0))
    if kernel.kind == "train":
        return ratios.get(f"train:{p.get('module', '')}", 1.0)
    return 1.0


@dataclass
class JobCost:
    job: Job
    seconds: float
    gpu_seconds: float
    uses_gpu: bool
    stage: str
    scheduler_s: float = 0.0  # Snakemake's own seconds around the job (wall time only)


def job_costs(jobs: Sequence[Job], works: Sequence[list[Work]], seconds: Callable[[Kernel], float],
              ratios: Mapping[str, float] | None = None, scheduler_s: float = 0.0) -> list[JobCost]:
    """Each job's estimated seconds on the calibrated CPU and, with ``ratios``, on a GPU. With
    ``ratios`` only a job with a measured speed-up (a ratio > 1 for one of its kernels) is placed on a
    GPU; the others run on CPU cores beside it (their GPU speed is unknown: counting them at CPU speed
    while they hold the GPU would serialize them for nothing). Without ``ratios`` (a calibration run
    on the GPU itself) every torch job that may use the device is a GPU job. ``scheduler_s``: Snakemake's
    calibrated seconds per job outside the job, added to each job's wall time only."""
    out = []
    for job, work in zip(jobs, works):
        cpu = sum(w.units * seconds(w.kernel) for w in work)
        torch_job = any(w.kernel.kind in ("train", "mpc") for w in work) and job.settings.get("device", "auto") != "cpu"
        on_gpu = torch_job and (not ratios or any(gpu_ratio(w.kernel, ratios) > 1.0 for w in work))
        gpu = sum(w.units * seconds(w.kernel) / (gpu_ratio(w.kernel, ratios) if ratios and on_gpu else 1.0)
                  for w in work)
        out.append(JobCost(job, cpu, gpu, on_gpu, stage_of(job.rule), scheduler_s))
    return out


def wall_time(costs: Sequence[JobCost], cores: int, gpus: int = 0, contention: float = 1.0) -> float:
    """Estimated wall seconds of the whole DAG on ``cores`` cores and ``gpus`` GPUs, every job
    ``contention`` times slower than alone (the calibrated slowdown of a full machine), plus
    Snakemake's own seconds per job."""
    tasks = [Task(contention * (c.gpu_seconds if gpus else c.seconds) + c.scheduler_s, c.job.threads, c.uses_gpu,
                  c.job.deps) for c in costs]
    return makespan(tasks, cores, gpus)


def recorded_run(costs: Sequence[JobCost], cores: int, moved: tuple[str, str] | None = None,
                 contention: float = 1.0) -> dict[str, float] | None:
    """What a finished run's benchmark files say about its wall time: ``wall_s`` from the first
    recorded job's start (file time minus its seconds) to the last one's end, and ``schedule_s``, the
    recorded job seconds (estimate x ``contention`` for a job without a file) scheduled on ``cores``
    cores as :func:`wall_time` does, with no time between jobs. Their difference is what the run spent
    outside its jobs (Snakemake, an interruption). None without any benchmark file."""
    starts, ends, tasks, n = [], [], [], 0
    for c in costs:
        path = relocate(c.job.benchmark, moved)
        s = recorded_seconds(path)
        if s is not None:
            end = Path(path).stat().st_mtime
            starts.append(end - s)
            ends.append(end)
            n += 1
        tasks.append(Task(s if s is not None else contention * c.seconds, c.job.threads, False, c.job.deps))
    if not n:
        return None
    return {"wall_s": max(ends) - min(starts), "schedule_s": makespan(tasks, cores), "recorded_jobs": n}


def recorded_seconds(benchmark: str | None) -> float | None:
    """Seconds a finished run's benchmark file recorded for a job (None if there is none)."""
    if not benchmark or not Path(benchmark).exists():
        return None
    with open(benchmark) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return float(rows[0]["s"]) if rows else None


def relocate(path: str | None, moved: tuple[str, str] | None) -> str | None:
    """``path`` under ``moved[1]`` instead of ``moved[0]`` (a finished run in another checkout)."""
    if path is None or moved is None:
        return path
    old, new = (p.rstrip("/") for p in moved)
    return new + path[len(old):] if path.startswith(old + "/") else path


def stage_table(costs: Sequence[JobCost], check: bool = False,
                moved: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """Per stage: jobs, estimated job-seconds; with ``check``, beside the recorded seconds of the jobs
    that have a benchmark file (under ``moved[1]`` instead of the profile's ``moved[0]``, if given),
    and the estimate of those same jobs."""
    order = [s for s, _ in STAGES] + [OTHER_STAGE]
    rows = []
    for stage in order:
        mine = [c for c in costs if c.stage == stage]
        if not mine:
            continue
        row: dict[str, Any] = {"stage": stage, "jobs": len(mine), "estimate_s": sum(c.seconds for c in mine),
                               "gpu_estimate_s": sum(c.gpu_seconds for c in mine)}
        if check:
            rec = [(c, recorded_seconds(relocate(c.job.benchmark, moved))) for c in mine]
            rec = [(c, s) for c, s in rec if s is not None]
            row["recorded_jobs"] = len(rec)
            row["recorded_s"] = sum(s for _, s in rec)
            row["estimate_of_recorded_s"] = sum(c.seconds for c, _ in rec)
        rows.append(row)
    return rows


def job_group(job: Job) -> str:
    """A job's group for :func:`largest_groups`: its rule, env and method (or policy method), e.g.
    ``"eval_reward mountaincar cadm_pets"``; wildcards that only repeat the work (dataset, N, trial,
    seed) are left out, so a group sums every dataset's and trial's job of the same kind."""
    w = job.wildcards
    parts = [job.rule, w.get("env", ""), w.get("method", w.get("pmethod", ""))]
    return " ".join(p for p in parts if p)


def largest_groups(costs: Sequence[JobCost], n: int = 10,
                   key: Callable[[Job], str] = job_group) -> list[dict[str, Any]]:
    """The ``n`` job groups (``key``: :func:`job_group`, or e.g. the rule) with the most estimated
    job-seconds, largest first: ``[{"group", "jobs", "estimate_s", "share"}]`` (``share``: of the
    total job time)."""
    total = sum(c.seconds for c in costs) or 1.0
    groups: dict[str, list[JobCost]] = {}
    for c in costs:
        groups.setdefault(key(c.job), []).append(c)
    rows = [{"group": g, "jobs": len(cs), "estimate_s": sum(c.seconds for c in cs)} for g, cs in groups.items()]
    rows.sort(key=lambda r: (-r["estimate_s"], r["group"]))
    return [{**r, "share": r["estimate_s"] / total} for r in rows[:n]]
