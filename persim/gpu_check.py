"""The GPU check (``make gpu-check``): proves the CUDA path on a machine with a GPU, in three stages.

    python -m persim.gpu_check [--out DIR] [--cores N] [--smoke-timeout S]

1. the CUDA tests (``pytest -m cuda``): every registered method trains on the GPU and agrees with its
   CPU copy, the planners run there;
2. the benchmark on the GPU (``python -m persim.benchmark --device cuda``);
3. the whole smoke profile with ``device: cuda`` (its own output folder), after which every
   training and MPC-evaluation job's provenance must record a CUDA device.

Each stage runs as its own process with a time limit, its output goes to ``DIR/<stage>.log`` and to
the terminal, and a summary line per stage follows; the exit status is 1 if any stage failed.
Refuses to start (exit 2) where torch sees no CUDA device: there is nothing to prove on a CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICE_RULES = ("train_policy", "rank_cv", "train_simulator", "train_policy_set", "eval_reward", "eval_reward_reference",
                "eval_reward_true_env", "eval_reward_true_env_reference")  # jobs whose torch work follows config `device`


def run_stage(name: str, cmd: list[str], out: Path, timeout: int) -> tuple[bool, float]:
    """Run ``cmd`` in the repository root, tee its output to ``out/<name>.log``; (passed, seconds)."""
    print(f"\n=== {name}: {' '.join(cmd)} (limit {timeout} s)", flush=True)
    start = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore"}
    with open(out / f"{name}.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            for line in proc.stdout:
                sys.stdout.write(line)
                log.write(line)
                if time.perf_counter() - start > timeout:
                    raise subprocess.TimeoutExpired(cmd, timeout)
            proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - start)))
        except subprocess.TimeoutExpired:
            proc.kill()
            print(f"{name}: stopped after {timeout} s", flush=True)
            return False, time.perf_counter() - start
    return proc.returncode == 0, time.perf_counter() - start


def training_devices(outdir: Path) -> dict[str, list[str]]:
    """Device recorded by the provenance sidecar of each job whose torch work follows config ``device``
    (training, MPC reward evaluation) under ``outdir``: {device: [files]}."""
    found: dict[str, list[str]] = {}
    for side in sorted(outdir.rglob("*.meta.json")):
        try:
            prov = json.loads(side.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if prov.get("rule") in DEVICE_RULES:
            found.setdefault(str(prov.get("device")), []).append(str(side.relative_to(outdir)))
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/gpu-check", help="folder for the stage logs and the smoke results")
    ap.add_argument("--smoke-dir", help="output folder of the smoke profile (default: OUT/smoke)")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 2, help="snakemake --cores for the smoke stage")
    ap.add_argument("--test-timeout", type=int, default=150, help="seconds allowed for the CUDA tests")
    ap.add_argument("--bench-timeout", type=int, default=120, help="seconds allowed for the benchmark")
    ap.add_argument("--smoke-timeout", type=int, default=240, help="seconds allowed for the smoke stage")
    args = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: torch sees no CUDA device (torch.cuda.is_available() is False): nothing to check here",
              file=sys.stderr)
        return 2
    out = (ROOT / args.out).resolve()  # an absolute --out stays as it is
    out.mkdir(parents=True, exist_ok=True)
    print(f"gpu-check: torch {torch.__version__} (CUDA {torch.version.cuda}), {torch.cuda.get_device_name(0)}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs", flush=True)
    py, smoke = sys.executable, Path(args.smoke_dir).resolve() if args.smoke_dir else out / "smoke"
    stages = [
        ("cuda_tests", [py, "-m", "pytest", "-m", "cuda", "-q", "-rs", "-p", "no:cacheprovider", "tests"], args.test_timeout),
        ("benchmark", [py, "-m", "persim.benchmark", "--device", "cuda", "--json", str(out / "benchmark.json")], args.bench_timeout),
        ("smoke_cuda", [py, "-m", "snakemake", "--cores", str(args.cores), "--configfile", "config/smoke.yaml",
                        "--config", "device=cuda", f"outdir={smoke}", "run_name=gpu-smoke", "--rerun-incomplete"],
         args.smoke_timeout),
    ]
    results = {}
    for name, cmd, limit in stages:
        results[name] = run_stage(name, cmd, out, limit)
    devices = training_devices(smoke)
    on_cpu = {d: f for d, f in devices.items() if not d.startswith("cuda")}
    results["smoke_trained_on_cuda"] = (bool(devices) and not on_cpu, 0.0)
    print(f"\ntraining jobs' recorded devices: { {d: len(f) for d, f in devices.items()} }"
          + (f"; not on CUDA: {on_cpu}" if on_cpu else ""))
    print("\ngpu-check summary:")
    for name, (ok, secs) in results.items():
        print(f"  {name:<22s} {'passed' if ok else 'FAILED'}  {secs:7.1f} s")
    return 0 if all(ok for ok, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
