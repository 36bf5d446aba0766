"""Estimate a profile's wall time before running it.

    python -m persim.cost --configfile config/quick.yaml --cores 2 [--gpus G] [--check [RUN_DIR]]
        [--config KEY=VALUE ...] [--job-server | --no-job-server]

Builds the profile's DAG (as ``snakemake -n`` does), turns each job's settings into work units,
measures each kind of work on this machine with a short calibration run (the package's own code at
reduced size, each kernel at its job's torch threads; cached in ``--cache``, so a second call is
instant), and prints the estimated seconds per stage and the wall time on ``--cores`` cores (list
scheduling over the DAG, every job slowed by the measured contention of a full machine). With
``--gpus G`` it also prints the wall time with G GPUs, one GPU job per GPU at a time, from GPU/CPU
ratios measured on an H200 (historical, labelled) unless the calibration itself ran on a GPU
(``--device cuda``). With ``--check`` it prints, per stage, the seconds a finished run's benchmark
files recorded beside the estimate of the same jobs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from snakemake.cli import parse_config

from persim import jobserver
from persim.cli import device_name, device_problem, int_at_least, output_file_problem
from persim.config import ROOT, ConfigError, check_config, merge, read_yaml
from persim.cost.calibrate import CacheError, CalibrationCache, Calibrator, machine_id
from persim.cost.estimate import (H200_RATIOS, JobCost, job_costs, largest_groups, recorded_run, stage_table,
                                  wall_time)
from persim.cost.jobs import Job, load_jobs
from persim.cost.work import SCHEDULER, Kernel, job_work, modelled_methods, run_start
from persim.progress import format_seconds as hms


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m persim.cost", description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", nargs="+", required=True, help="profile file(s), as given to snakemake")
    ap.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                    help="overrides, as snakemake's --config takes them (e.g. 'envs=[mountaincar,cartpole]')")
    ap.add_argument("--cores", type=int_at_least(1), default=os.cpu_count() or 1,
                    help="cores of the machine that will run it")
    ap.add_argument("--gpus", type=int_at_least(0), default=0, help="GPUs of that machine")
    ap.add_argument("--device", default="cpu", type=device_name,
                    help="device the calibration runs on (cpu, cuda[:N])")
    ap.add_argument("--cache", default=".cache/persim-cost.json", help="calibration cache (JSON)")
    ap.add_argument("--no-calibrate", action="store_true", help="use the cache only; fail if a kernel is missing")
    ap.add_argument("--check", metavar="RUN_DIR", nargs="?", const="", default=None,
                    help="compare with the benchmark files of a finished run (default: the profile's outdir)")
    ap.add_argument("--job-server", action=argparse.BooleanOptionalAction, default=None,
                    help="jobs start as forks of the warm job server, as `make quick` runs them (default: as "
                         "PERSIM_JOB_SERVER says; --no-job-server: every job a fresh Python, as on Slurm)")
    ap.add_argument("--json", help="also write the estimate to this JSON file")
    ap.add_argument("--snakefile", default="Snakefile")
    ap.add_argument("--top", type=int_at_least(0), default=12, help="how many of the largest job groups to list")
    args = ap.parse_args(argv)
    problem = device_problem(args.device)
    if problem:
        ap.error(problem)
    return args


class BadInput(Exception):
    """A path given on the command line cannot be used; the message names the option and the path."""


def checked_config(configfiles: list[str], entries: list[str]) -> tuple[dict, dict]:
    """``(overrides, config)``: ``--config``'s ``entries`` parsed as Snakemake parses them, and
    ``configfiles`` merged over ``config/config.yaml`` with the overrides on top (as Snakemake merges them),
    checked against the schema. A missing file, a YAML syntax error (file, line), a bad ``--config`` entry
    or a schema violation (the config key) raises :class:`ConfigError`, before the DAG is built."""
    try:
        overrides = parse_config(entries)
    except ValueError as exc:
        raise ConfigError(f"--config {' '.join(entries)}: {exc}") from exc
    config: dict = {}
    for path in [ROOT / "config" / "config.yaml", *configfiles]:
        config = merge(config, read_yaml(path))
    config = merge(config, overrides)
    check_config(config)
    return overrides, config


def check_paths(args: argparse.Namespace, config: dict) -> None:
    """Raise :class:`BadInput` for a ``--snakefile`` that is not there, a ``--check`` folder that is not
    there (by default the profile's ``outdir``), or a ``--json`` file that cannot be written, before the
    estimate is made."""
    if not Path(args.snakefile).is_file():
        raise BadInput(f"--snakefile {args.snakefile}: no such file")
    if args.check is not None:
        run_dir = args.check or str(config["outdir"])
        if not Path(run_dir).is_dir():
            which = "--check" if args.check else "--check (no folder given: the profile's outdir, config key 'outdir')"
            raise BadInput(f"{which} {run_dir}: no such folder (give a finished run's outdir, which holds its "
                           "benchmark files)")
    problem = output_file_problem("--json", args.json)
    if problem:
        raise BadInput(problem)


def main(argv: list[str] | None = None) -> int:
    """Print the estimate; 1 with one ``error:`` message (naming the config key, file or option) for bad
    input, found before anything is measured; 2 for a usage error or kernels missing with --no-calibrate."""
    args = _args(argv)
    try:
        overrides, config = checked_config(args.configfile, args.config)
        check_paths(args, config)
        cache = CalibrationCache(args.cache, machine_id(args.device))
        t0 = time.perf_counter()
        jobs, config = load_jobs(args.configfile, args.snakefile, args.cores, overrides)  # the workflow's checks
    except (BadInput, CacheError, ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return estimate(args, jobs, config, cache, t0)


def estimate(args: argparse.Namespace, jobs: list[Job], config: dict, cache: CalibrationCache, t0: float) -> int:
    """Calibrate what ``cache`` lacks (unless --no-calibrate: then 2), print the estimate of ``jobs`` and
    write it to ``--json``; ``t0``: when the DAG's building started."""
    served = jobserver.enabled() if args.job_server is None else args.job_server
    works = [job_work(j, config, served) for j in jobs]
    start = run_start(served)
    print(f"persim.cost: {config.get('run_name', '?')} profile ({' + '.join(args.configfile)}): {len(jobs)} jobs; "
          f"DAG built in {time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.2f} "
          "(calibrate on an idle machine)")
    print("job start-up: " + ("forks of the warm job server (as `make quick` runs them)" if served else
                              "a fresh Python per job (--job-server for runs like `make quick`)"))
    busy = Kernel("contention", key=json.dumps({"cores": max(1, min(args.cores, os.cpu_count() or 1))}))
    missing = cache.missing([busy, SCHEDULER] + [w.kernel for work in works + [start] for w in work])
    if missing and args.no_calibrate:
        print(f"error: {len(missing)} kernels are not in {args.cache} for this machine; run without --no-calibrate",
              file=sys.stderr)
        return 2
    if missing:
        print(f"calibrating {len(missing)} kernels on {cache.machine} (cached in {args.cache}):", flush=True)
        cache.measure(missing, Calibrator(args.device), log=lambda s: print(s, flush=True))
    ratios = H200_RATIOS if args.gpus and not args.device.startswith("cuda") else {}
    costs = job_costs(jobs, works, cache.seconds, ratios, scheduler_s=cache.seconds(SCHEDULER))
    out = _report(args, config, costs, cache.seconds(busy), sum(w.units * cache.seconds(w.kernel) for w in start))
    unmodelled = sorted(m for m, ok in modelled_methods().items() if not ok)
    if unmodelled:
        print(f"methods without a training cost model (counted as start-up only): {', '.join(unmodelled)}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


def _report(args: argparse.Namespace, config: dict, costs: list[JobCost], contention: float,
            start_s: float = 0.0) -> dict:
    """Print the stage table, the wall times, the largest rules and job groups; return them as a dict.
    ``start_s``: seconds paid once per run (the job server's start-up), in no stage."""
    check = args.check is not None
    rows = stage_table(costs, check, moved=(config["outdir"], args.check) if args.check else None)
    print(f"\nestimate = seconds of each job alone on this machine; {args.cores} jobs side by side run "
          f"{contention:.2f}x slower each (measured)"
          + ("; recorded jobs ran side by side, so they are compared with estimate x that factor" if check else ""))
    print(f"{'stage':<38s} {'jobs':>5s} {'estimate':>10s}"
          + (f" {'recorded':>10s} {'est. x f':>10s} {'ratio':>6s}" if check else ""))
    for r in rows:
        line = f"{r['stage']:<38s} {r['jobs']:5d} {hms(r['estimate_s']):>10s}"
        if check and r["recorded_jobs"]:
            r["estimate_of_recorded_x_contention_s"] = est = r["estimate_of_recorded_s"] * contention
            ratio = est / r["recorded_s"]
            flag = "" if 0.7 <= ratio <= 1.3 else "  outside +-30%"
            line += (f" {hms(r['recorded_s']):>10s} {hms(est):>10s} {ratio:6.2f}{flag}"
                     f"  ({r['recorded_jobs']} of {r['jobs']} jobs recorded)")
        elif check:
            line += f" {'-':>10s}  (no job recorded)"
        print(line)
    if check and not any(r["recorded_jobs"] for r in rows):
        print(f"no benchmark file of these jobs in {args.check or config['outdir']}: nothing to compare (a run of "
              "another profile, or one that finished no job yet)")
    if start_s:
        print(f"{'job server start-up (once per run)':<38s} {'':5s} {hms(start_s):>10s}"
              + ("  (recorded in whichever job started first)" if check else ""))
    total = sum(c.seconds for c in costs) + start_s
    wall = wall_time(costs, args.cores, contention=contention) + start_s
    print(f"{'total job time':<38s} {len(costs):5d} {hms(total):>10s}")
    sched = costs[0].scheduler_s if costs else 0.0
    print(f"\nestimated wall time on {args.cores} cores (CPU): {hms(wall)}  (Snakemake's own time: "
          f"{sched:.2f} s per job, measured)")
    out = {"profile": config.get("run_name"), "cores": args.cores, "contention": contention, "stages": rows,
           "total_job_s": total, "wall_s": wall, "scheduler_s_per_job": sched, "start_s": start_s}
    if check:
        run = recorded_run(costs, args.cores, (config["outdir"], args.check) if args.check else None, contention)
        if run:
            print(f"the recorded run: {hms(run['wall_s'])} from its first recorded job's start to its last one's end "
                  f"(benchmark files' times; {run['recorded_jobs']} of {len(costs)} jobs); its job seconds "
                  f"scheduled on {args.cores} cores with no time between jobs: {hms(run['schedule_s'])}; the "
                  "difference is time outside the jobs (Snakemake, or the run stopped and resumed)")
            out["recorded_run"] = run
    if args.gpus:
        gwall = wall_time(costs, args.cores, args.gpus, contention=contention) + start_s
        source = ("the calibration ran on the GPU" if args.device.startswith("cuda") else
                  "GPU/CPU ratios measured on an H200 by persim.benchmark, 2026-11-30, for PerSim training and "
                  "PerSim / PE-TS CaDM planning only; everything else counted at CPU speed")
        print(f"estimated wall time on {args.cores} cores + {args.gpus} GPU(s): {hms(gwall)}  ({source})")
        out["gpus"], out["gpu_wall_s"] = args.gpus, gwall
    rules = largest_groups(costs, 6, key=lambda job: job.rule)
    print("largest rules by job time: " + ", ".join(f"{r['group']} {hms(r['estimate_s'])}" for r in rules))
    out["largest_groups"] = groups = largest_groups(costs, args.top)
    print(f"\nlargest job groups (rule, env, method; every dataset / N / trial summed):\n"
          f"{'group':<52s} {'jobs':>5s} {'estimate':>10s} {'share':>6s}")
    for g in groups:
        print(f"{g['group']:<52s} {g['jobs']:5d} {hms(g['estimate_s']):>10s} {100 * g['share']:5.1f}%")
    return out


if __name__ == "__main__":
    sys.exit(main())
