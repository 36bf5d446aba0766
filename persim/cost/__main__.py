"""Estimate a profile's wall time before running it.

    python -m persim.cost --configfile config/quick.yaml --cores 2 [--gpus G] [--check results/quick]

Builds the profile's DAG (as ``snakemake -n`` does), turns each job's settings into work units,
measures each kind of work on this machine with a short calibration run (the package's own code at
reduced size; cached in ``--cache``, so a second call is instant), and prints the estimated seconds
per stage and the wall time on ``--cores`` cores (list scheduling over the DAG). With ``--gpus G`` it
also prints the wall time with G GPUs, from GPU/CPU ratios measured on an H200 (labelled; the
calibration itself runs on this machine's CPU unless ``--device cuda``). With ``--check RUN_DIR`` it
prints, per stage, the seconds a finished run's benchmark files recorded beside the estimate of the
same jobs.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time

from persim.cost.calibrate import CalibrationCache, Calibrator, machine_id
from persim.cost.estimate import H200_RATIOS, dump, fmt_s, job_costs, stage_table, wall_time
from persim.cost.jobs import load_jobs
from persim.cost.work import Kernel, job_work, modelled_methods


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m persim.cost", description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", nargs="+", required=True, help="profile file(s), as given to snakemake")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores of the machine that will run it")
    ap.add_argument("--gpus", type=int, default=0, help="GPUs of that machine (estimate from H200 ratios)")
    ap.add_argument("--threads", type=int, help="torch threads for the calibration (default: the profile's "
                                                "train_threads)")
    ap.add_argument("--device", default="cpu", help="device the calibration runs on (cpu, cuda)")
    ap.add_argument("--cache", default=".cache/persim-cost.json", help="calibration cache (JSON)")
    ap.add_argument("--no-calibrate", action="store_true", help="use the cache only; fail if a kernel is missing")
    ap.add_argument("--check", metavar="RUN_DIR", nargs="?", const="", default=None,
                    help="compare with the benchmark files of a finished run (default: the profile's outdir)")
    ap.add_argument("--json", help="also write the estimate to this JSON file")
    ap.add_argument("--snakefile", default="Snakefile")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    t0 = time.perf_counter()
    jobs, config = load_jobs(args.configfile, args.snakefile, args.cores)
    threads = args.threads or int(config.get("train_threads", 1))
    works = [job_work(j, config) for j in jobs]
    print(f"persim.cost: {config.get('run_name', '?')} profile ({' + '.join(args.configfile)}): {len(jobs)} jobs; "
          f"DAG built in {time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.2f} "
          "(calibrate on an idle machine)")
    cache = CalibrationCache(args.cache, machine_id(args.device, threads))
    busy = Kernel("contention", key=json.dumps({"cores": max(1, min(args.cores, os.cpu_count() or 1))}))
    missing = cache.missing([busy] + [w.kernel for work in works for w in work])
    if missing and args.no_calibrate:
        print(f"error: {len(missing)} kernels are not in {args.cache} for this machine; run without --no-calibrate",
              file=sys.stderr)
        return 2
    if missing:
        print(f"calibrating {len(missing)} kernels on {cache.machine} (cached in {args.cache}):", flush=True)
        cache.measure(missing, Calibrator(args.device, threads), log=lambda s: print(s, flush=True))
    costs = job_costs(jobs, works, cache.seconds, H200_RATIOS if args.gpus else None)
    _report(args, config, costs, threads, cache.seconds(busy))
    unmodelled = sorted(m for m, ok in modelled_methods().items() if not ok)
    if unmodelled:
        print(f"methods without a training cost model (counted as start-up only): {', '.join(unmodelled)}")
    return 0


def _report(args: argparse.Namespace, config: dict, costs, threads: int, contention: float) -> None:
    check = args.check is not None
    rows = stage_table(costs, check, moved=(config["outdir"], args.check) if args.check else None)
    total = sum(c.seconds for c in costs)
    print(f"\njob seconds alone on this machine; {args.cores} jobs side by side each run {contention:.2f}x slower "
          f"(measured){'; recorded jobs ran side by side, so they are compared with estimate x that' if check else ''}")
    print(f"{'stage':<38s} {'jobs':>5s} {'estimate':>10s}" + (f" {'recorded':>10s} {'est. same':>10s} {'ratio':>6s}"
                                                             if check else ""))
    for r in rows:
        line = f"{r['stage']:<38s} {r['jobs']:5d} {fmt_s(r['estimate_s']):>10s}"
        if check and r["recorded_jobs"]:
            r["estimate_of_recorded_s"] *= contention
            ratio = r["estimate_of_recorded_s"] / r["recorded_s"]
            flag = "" if 0.7 <= ratio <= 1.3 else "  outside +-30%"
            line += (f" {fmt_s(r['recorded_s']):>10s} {fmt_s(r['estimate_of_recorded_s']):>10s} {ratio:6.2f}{flag}"
                     f"  ({r['recorded_jobs']} of {r['jobs']} jobs recorded)")
        elif check:
            line += f" {'-':>10s}  (no job recorded)"
        print(line)
    wall = wall_time(costs, args.cores, contention=contention)
    print(f"{'total job time':<38s} {len(costs):5d} {fmt_s(total):>10s}")
    print(f"\nestimated wall time on {args.cores} cores (CPU, {threads} torch thread(s) per training job): {fmt_s(wall)}")
    out = {"profile": config.get("run_name"), "cores": args.cores, "threads": threads, "contention": contention,
           "stages": rows,
           "total_job_s": total, "wall_s": wall}
    if args.gpus:
        gwall = wall_time(costs, args.cores, args.gpus, contention=contention)
        print(f"estimated wall time on {args.cores} cores + {args.gpus} GPU(s): {fmt_s(gwall)}  (GPU/CPU ratios "
              "measured on an H200 by persim.benchmark, 2026-11-30; d3rlpy, MOReL and the true-dynamics planner "
              "counted at CPU speed)")
        out["gpus"], out["gpu_wall_s"] = args.gpus, gwall
    top = collections.Counter()
    for c in costs:
        top[c.job.rule] += c.seconds
    print("largest rules by job time: " + ", ".join(f"{r} {fmt_s(s)}" for r, s in top.most_common(6)))
    if args.json:
        dump(args.json, out)


if __name__ == "__main__":
    sys.exit(main())
