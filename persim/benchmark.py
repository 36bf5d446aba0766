"""Speed benchmark of the pipeline's heavy kernels: prints what it measures in this run (not a test).

    python -m persim.benchmark [--device cpu|cuda] [--threads 1 2] [--repeats 5] [--epochs 2] [--json FILE]
                               [--compile default|max-autotune]

For each thread count (CPU; one pass on CUDA) it measures, in the same process:

* the float32 matrix-multiply peak (square ``torch.mm``, best size of 512 / 1024 / 2048, best of 5);
* one MPC planner call (one episode) on each paper-size simulator: PerSim MountainCar / CartPole
  (random shooting, M = 5 members x 1000 candidates x horizon 50), PerSim HalfCheetah (CEM 200 x 30,
  5 iterations), PE-TS CaDM MountainCar (5 members x 20 particles, 1000 x 50 in the evaluation's budget);
  the discrete PerSim steps run as the pipeline runs them (the fused C kernel of
  :mod:`persim.models.native_step` where it builds) and again in the torch form, both at the torch
  form's FLOP count (the flop counter sees matrix products only, not the kernel's arithmetic);
* one PerSim training epoch at the paper's MountainCar size (247k transitions, batch 512, M = 5);
* the full prediction evaluation of one test agent as the pipeline runs it: 200 true-env rollouts of 60
  steps under an MLP policy (2 x 256, the size of the test policies), then the simulator's open-loop
  predictions and the RMSE / R² (``evaluate_prediction``), timed as a whole and in its two parts.

With ``--compile MODE``, each discrete PerSim MPC step is timed a second time with its step function
through ``torch.compile`` (the planner around it eager), at the eager step's FLOP count: whether
compilation gets the thin folded step past the eager ceiling (the README's benchmark notes).

Once, after the thread counts (CPU work that does not depend on them):

* a job's start-up: a fresh Python importing what the rules' scripts import, and the same job handed
  to a warm job server (:mod:`persim.jobserver`, what ``make quick`` does);
* one d3rlpy mini-batch of 128 from a 10,000-transition FIFO replay buffer (MountainCar), drawn by
  d3rlpy transition by transition and as index arrays (:mod:`persim.baselines.batch_sampling`).

Each kernel's floating-point operations are counted in the same run by ``torch.utils.flop_counter``
(matrix products only), so its GFLOP/s and its share of the measured peak are this machine's, now.
Times are the median of ``--repeats`` calls after one warm-up (min beside it). The machine's load
average is printed before and after: numbers taken beside other work are not this machine's speed.
The few historical figures printed at the end were measured elsewhere and are labelled so; nothing
is divided by them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from persim.baselines.cadm import CaDMConfig, CaDMNet, CaDMSimulator
from persim.cli import device_name, device_problem, int_at_least, output_file_problem
from persim.data.schema import OfflineDataset
from persim.envs.specs import SPECS
from persim.evaluation.prediction import collect_rollouts, evaluate_prediction
from persim.models import PerSimConfig, PerSimNet, PerSimSimulator, native_step, train_persim
from persim.planning import CEM, MPCConfig, RandomShooting, reward_fn

PAPER_MODEL = {  # App. E: rank, encoders, batch size
    "mountaincar": dict(rank=3, state_hidden=[256], action_hidden=[], batch_size=512),
    "cartpole": dict(rank=5, state_hidden=[256], action_hidden=[], batch_size=64),
    "halfcheetah": dict(rank=15, state_hidden=[256] * 4, action_hidden=[256, 256], batch_size=512),
}
HISTORICAL = (  # measured elsewhere, quoted for orientation only
    "authors' PerSim code, 2-core machine: 3.5 s per epoch per member (MountainCar, 247k transitions, batch 512)",
    "authors' PerSim code, 2-core machine: ~0.52 s (MountainCar) / 0.62 s (CartPole) per MPC step, 5 x 1000 x 50",
)


@dataclass
class Measure:
    """One kernel's timing: seconds per call (median, min over ``repeats``), matmul FLOPs per call."""

    kernel: str
    device: str
    threads: int
    median_s: float
    min_s: float
    repeats: int
    flops: float
    peak_flops: float

    @property
    def gflops(self) -> float:
        return self.flops / self.median_s / 1e9

    def line(self) -> str:
        frac = f"{100 * self.flops / self.median_s / self.peak_flops:5.1f}% of peak" if self.flops else "  (no FLOP count)"
        return (f"  {self.kernel:<46s} {self.median_s * 1e3:10.1f} ms (min {self.min_s * 1e3:.1f}, n={self.repeats})"
                f"  {self.flops / 1e9:8.2f} GFLOP  {self.gflops:8.1f} GFLOP/s  {frac}")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], device: str, repeats: int) -> tuple[float, float]:
    """(median, min) seconds of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), float(np.min(times))


def count_flops(fn: Callable[[], object]) -> float:
    """Matrix-product FLOPs of one ``fn()`` call (forward and backward, any device)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def matmul_peak(device: str, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Best ``torch.mm`` rate (FLOP/s) in ``dtype`` over square sizes 512 / 1024 / 2048."""
    best = 0.0
    for n in (512, 1024, 2048):
        x = torch.randn(n, n, device=device, dtype=dtype)
        med, low = time_call(lambda: torch.mm(x, x), device, repeats)
        best = max(best, 2 * n ** 3 / low)
    return best


def synthetic_dataset(env: str, n: int, n_agents: int = 500, seed: int = 0) -> OfflineDataset:
    """Random transitions with the env's shapes (the kernels' speed depends on shapes only)."""
    spec = SPECS[env]
    d, k, a = spec.obs_dim, spec.n_actions, spec.action_dim
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, d)).astype(np.float32)
    actions = rng.integers(k, size=n) if k else rng.uniform(-1, 1, (n, a)).astype(np.float32)
    return OfflineDataset(env, "<synthetic>", {}, rng.integers(n_agents, size=n), np.zeros((n, 1)),
                          np.zeros(n, np.int64), obs, actions, rng.normal(size=n),
                          obs + 0.01 * rng.normal(size=(n, d)).astype(np.float32),
                          np.zeros(n, bool), np.zeros(n, bool))


def persim_sim(env: str, device: str, n_agents: int = 500) -> PerSimSimulator:
    spec = SPECS[env]
    cfg = PerSimConfig(n_members=5, **PAPER_MODEL[env])
    torch.manual_seed(0)
    net = PerSimNet(n_agents, spec.obs_dim, spec.n_actions, spec.action_dim, cfg).to(device)
    return PerSimSimulator(net, cfg, {"env": env})


def planner_for(env: str, n_members: int) -> RandomShooting | CEM:
    """The evaluation's planner at the paper's budget (config/config.yaml)."""
    spec, gen = SPECS[env], torch.Generator().manual_seed(0)
    if spec.discrete:
        cfg = MPCConfig(n_candidates=1000, horizon=50)
        bonus = cfg.mc_position_bonus if env == "mountaincar" else 0.0
        return RandomShooting(cfg, spec.n_actions, reward_fn(env), n_members, position_bonus=bonus, generator=gen)
    cfg = MPCConfig(n_candidates=200, horizon=30)
    return CEM(cfg, torch.tensor(spec.action_low), torch.tensor(spec.action_high), reward_fn(env), n_members,
               generator=gen)


def mpc_call(env: str, sim, device: str, context=None, compile_mode: str | None = None) -> Callable[[], object]:
    """One planner call for one episode on ``sim``'s planning step; with ``compile_mode`` ("default",
    "max-autotune" ...) the step function goes through ``torch.compile`` (one graph per horizon step,
    compiled on the first call; the planner around it stays eager)."""
    planner = planner_for(env, sim.planning_members)
    planner.reset(1)
    step = sim.planning_step(torch.zeros(1, dtype=torch.int64), planner.cfg.n_candidates, context,
                             torch.Generator(device=device).manual_seed(0))
    if compile_mode is not None:
        step = torch.compile(step, mode=compile_mode, dynamic=False)
    states = torch.zeros(1, SPECS[env].obs_dim, device=device)
    return lambda: planner.act(step, states)


COMPILE_MODES = {"default": "default", "max-autotune": "max-autotune-no-cudagraphs"}  # --compile -> torch mode


def compiled_mpc_measures(env: str, sim, device: str, mode: str,
                          measure: Callable[..., object], flops: float) -> bool:
    """Time PerSim's MPC step on ``env`` with its step function through ``torch.compile(mode=mode)``
    (``mpc_call``'s ``compile_mode``), at the eager step's FLOP count (compiled kernels hide theirs).
    Dynamo's caches are reset first, so the printed first call holds this step's whole compilation.
    A compiler error is printed, not raised; returns whether the step compiled."""
    torch._dynamo.reset()
    call = mpc_call(env, sim, device, compile_mode=mode)
    try:
        start = time.perf_counter()
        call()
        print(f"  (torch.compile mode {mode}: first call incl. compilation {time.perf_counter() - start:.1f} s)")
    except Exception as err:  # noqa: BLE001 - no C++ compiler, an inductor bug ...: say so and go on
        print(f"  torch.compile mode {mode} failed on {env}: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
        return False
    measure(f"MPC step PerSim {env}, compiled", call, flops=flops)
    return True


def cadm_sim(device: str) -> tuple[CaDMSimulator, torch.Tensor]:
    """PE-TS CaDM at the paper's size on MountainCar and one episode's encoded context."""
    cfg = CaDMConfig.for_variant("pets", context_length=10, context_dim=10, context_hidden=(256, 128, 64),
                                 hidden=(200, 200, 200, 200))
    torch.manual_seed(0)
    net = CaDMNet(obs_dim=2, n_actions=3, action_dim=0, cfg=cfg).to(device)
    sim = CaDMSimulator(net, cfg, {"obs_dim": 2, "n_actions": 3, "action_dim": 0})
    k = cfg.context_length
    ctx = sim.encode_context(torch.zeros(1, k, 2), torch.zeros(1, k, dtype=torch.int64), torch.zeros(1, k, 2),
                             torch.ones(1, k, dtype=torch.bool))
    return sim, ctx


def training_epoch(device: str, n: int = 247_000) -> tuple[Callable[[], object], Callable[[], object], float]:
    """(one epoch at size n, one epoch at size n/20 for the FLOP count, scale factor) for MountainCar."""
    def epoch(size: int) -> Callable[[], object]:
        ds = synthetic_dataset("mountaincar", size)
        cfg = PerSimConfig(n_members=5, epochs=1, **PAPER_MODEL["mountaincar"])
        return lambda: train_persim(ds, 500, cfg, seed=0, device=device)
    return epoch(n), epoch(n // 20), 20.0


def mlp_policy(env: str, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A random greedy 2 x 256 MLP policy with ``env``'s shapes (the size of the pipeline's logging and
    test policies): ``act(obs [B, D]) -> actions [B] int64 | [B, A] in [-1, 1]``; for timing only."""
    spec = SPECS[env]
    torch.manual_seed(seed)
    out = spec.n_actions or spec.action_dim
    policy = torch.nn.Sequential(torch.nn.Linear(spec.obs_dim, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                 torch.nn.ReLU(), torch.nn.Linear(256, out))

    @torch.no_grad()
    def act(obs: np.ndarray) -> np.ndarray:
        y = policy(torch.as_tensor(obs, dtype=torch.float32))
        return y.argmax(1).numpy() if spec.n_actions else torch.tanh(y).numpy()

    return act


def prediction_eval(env: str, device: str) -> dict[str, float]:
    """The full prediction evaluation of one test agent, timed as a whole and by part (seconds)."""
    spec = SPECS[env]
    act = mlp_policy(env)
    cov = spec.covariate_dict(spec.policy_covariates("test"))
    sim = persim_sim(env, device)
    start = time.perf_counter()
    ro = collect_rollouts(env, cov, act, 200, 60, seed=0)
    mid = time.perf_counter()
    evaluate_prediction(sim, 0, ro, warmup=10, horizon=50)
    _sync(device)
    end = time.perf_counter()
    return {"total_s": end - start, "rollouts_s": mid - start, "model_s": end - mid}


def job_start_up() -> dict[str, float]:
    """Seconds to start one job: fresh (its own Python and imports) and served (a warm server's fork)."""
    from persim.cost.calibrate import Calibrator  # it imports this module

    cal = Calibrator()
    return {"fresh_s": cal.overhead()[""], "served_s": cal.overhead(served=True)[""]}


def replay_sampling(n: int = 10_000, batch: int = 128, repeats: int = 200) -> dict[str, float]:
    """Milliseconds per mini-batch from a FIFO buffer of ``n`` MountainCar transitions (random
    actions): d3rlpy's own sampling and the index-array sampling that mirrors it."""
    import contextlib
    import io
    import logging

    import structlog

    with contextlib.redirect_stderr(io.StringIO()):  # the old gym's banner, printed when d3rlpy imports it
        import d3rlpy
    from persim.baselines.batch_sampling import use_batched_sampling_online
    from persim.envs import make

    env = make("mountaincar", max_episode_steps=200)
    # d3rlpy's "signatures determined" info lines would break the benchmark's table: quiet while the
    # buffers are made, then the process's logging as it was
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        buffers = [d3rlpy.dataset.create_fifo_replay_buffer(limit=n, env=env),
                   use_batched_sampling_online(d3rlpy.dataset.create_fifo_replay_buffer(limit=n, env=env))]
    finally:
        structlog.configure(**saved)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    for _ in range(n + 1):
        action = int(rng.integers(3))
        nxt, reward, term, trunc, _ = env.step(action)
        for buf in buffers:
            buf.append(obs, action, float(reward))
            if term or trunc:
                buf.clip_episode(term)
        obs = env.reset()[0] if term or trunc else nxt
    out = {}
    for name, buf in zip(("d3rlpy_ms", "batched_ms"), buffers):
        start = time.perf_counter()
        for _ in range(repeats):
            buf.sample_transition_batch(batch)
        out[name] = (time.perf_counter() - start) / repeats * 1e3
    return out


def autocast_bf16(device: str) -> torch.autocast:
    """``torch.autocast`` to bfloat16 on ``device``'s type (matrix products in bfloat16, fp32 elsewhere)."""
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def run(device: str, threads: int, repeats: int, epochs: int,
        compile_mode: str | None = None, bf16: bool = False) -> tuple[list[Measure], dict]:
    """All kernels at one thread count; returns the measures and the prediction-evaluation times. With
    ``compile_mode`` the discrete PerSim MPC steps are timed once more with the step compiled; with
    ``bf16`` the HalfCheetah CEM and PE-TS CaDM steps once more under bfloat16 autocast (share of the
    bfloat16 matmul peak, measured too). The pipeline itself always computes in float32."""
    torch.set_num_threads(threads)
    peak = matmul_peak(device)
    print(f"\n[{device}, {threads} thread(s)] float32 matmul peak measured now: {peak / 1e9:.1f} GFLOP/s")
    peak_bf16 = matmul_peak(device, dtype=torch.bfloat16) if bf16 else 0.0
    if bf16:
        print(f"[{device}, {threads} thread(s)] bfloat16 matmul peak measured now: {peak_bf16 / 1e9:.1f} GFLOP/s")
    measures = []

    def measure(kernel: str, fn: Callable[[], object], flops: float | None = None, reps: int = repeats,
                peak_flops: float = peak) -> Measure:
        f = count_flops(fn) if flops is None else flops
        med, low = time_call(fn, device, reps)
        m = Measure(kernel, device, threads, med, low, reps, f, peak_flops)
        measures.append(m)
        print(m.line(), flush=True)
        return m

    def measure_bf16(kernel: str, fn: Callable[[], object], fp32: Measure) -> None:
        """``fn`` again under bfloat16 autocast, at the FLOP count of its float32 measure ``fp32``."""
        if bf16:
            with autocast_bf16(device):
                measure(f"{kernel}, bf16 autocast", fn, flops=fp32.flops, peak_flops=peak_bf16)

    for env in ("mountaincar", "cartpole", "halfcheetah"):
        sim = persim_sim(env, device)
        what = "RS 5x1000x50" if SPECS[env].discrete else "CEM 200x30 x5 it."
        if not SPECS[env].discrete:
            fp32 = measure(f"MPC step PerSim {env} ({what})", mpc_call(env, sim, device))
            measure_bf16(f"MPC step PerSim {env}", mpc_call(env, sim, device), fp32)
            continue
        with native_step.switched(False):  # the torch form: the FLOP count and the reference time
            torch_call = mpc_call(env, sim, device)
        flops = count_flops(torch_call)
        fused = native_step.usable(device, SPECS[env].obs_dim, SPECS[env].n_actions)
        measure(f"MPC step PerSim {env} ({what}{', C kernel' if fused else ''})", mpc_call(env, sim, device),
                flops=flops)
        if fused:
            measure(f"MPC step PerSim {env}, torch form", torch_call, flops=flops)
        if compile_mode:  # after a failure, the other steps are not tried
            with native_step.switched(False):
                compile_mode = compile_mode if compiled_mpc_measures(env, sim, device, COMPILE_MODES[compile_mode],
                                                                     measure, flops) else None
    cadm, ctx = cadm_sim(device)
    fp32 = measure("MPC step PE-TS CaDM mountaincar (5x20 p., 1000x50)", mpc_call("mountaincar", cadm, device, ctx))
    measure_bf16("MPC step PE-TS CaDM mountaincar", mpc_call("mountaincar", cadm, device, ctx), fp32)
    full, small, scale = training_epoch(device)
    measure("PerSim training epoch mountaincar (247k, M=5)", full, flops=scale * count_flops(small),
            reps=max(1, epochs))
    pred = prediction_eval("mountaincar", device)
    print(f"  full prediction evaluation, one MountainCar agent (200 rollouts x 60 steps): {pred['total_s']:.2f} s "
          f"= true-env rollouts under the policy {pred['rollouts_s']:.2f} s + model predictions and scores "
          f"{pred['model_s']:.2f} s")
    return measures, pred


def _args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; a bad count or device, or a CUDA device this machine lacks, is a usage error."""
    ap = argparse.ArgumentParser(prog="python -m persim.benchmark", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", type=device_name, help="cpu or cuda[:N]")
    ap.add_argument("--threads", type=int_at_least(1), nargs="+", default=[1, 2], help="torch thread counts (CPU)")
    ap.add_argument("--repeats", type=int_at_least(1), default=5, help="timed calls per kernel (after one warm-up)")
    ap.add_argument("--epochs", type=int_at_least(1), default=2, help="timed training epochs")
    ap.add_argument("--json", help="also write the measures to this JSON file")
    ap.add_argument("--compile", choices=list(COMPILE_MODES),
                    help="also time the discrete PerSim MPC steps with their step function through torch.compile "
                         "(max-autotune: without CUDA graphs; needs a C++ compiler on the CPU; compilation "
                         "~5-20 s per step shape here)")
    ap.add_argument("--bf16", action="store_true",
                    help="also time the HalfCheetah CEM and PE-TS CaDM MPC steps under bfloat16 autocast, beside "
                         "the bfloat16 matmul peak (a lead for CPUs and GPUs with native bfloat16: elsewhere bfloat16 "
                         "products are emulated and these timings can take minutes; the pipeline computes in float32)")
    args = ap.parse_args(argv)
    problem = device_problem(args.device)
    if problem:
        ap.error(problem)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 1 with one ``error:`` line, before any measuring, if ``--json`` cannot be written."""
    args = _args(argv)
    problem = output_file_problem("--json", args.json)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    threads = args.threads if args.device == "cpu" else [1]
    gpu = f", GPU {torch.cuda.get_device_name(args.device)}" if args.device.startswith("cuda") else ""
    print(f"persim.benchmark: torch {torch.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs{gpu}; load average before: {os.getloadavg()[0]:.2f}")
    print(f"discrete PerSim planning step: {native_step.describe()}")
    records = []
    for n in threads:
        measures, pred = run(args.device, n, args.repeats, args.epochs, args.compile, args.bf16)
        records += [{**asdict(m), "gflops_per_s": m.gflops} for m in measures]
        records.append({"kernel": "prediction evaluation mountaincar (one agent)", "device": args.device,
                        "threads": n, **pred})
    start_up, sampling = job_start_up(), replay_sampling()
    print(f"\njob start-up (one job, best of 2-3): its own Python importing the scripts' imports "
          f"{start_up['fresh_s']:.2f} s; handed to a warm job server {start_up['served_s']:.2f} s")
    print(f"d3rlpy mini-batch of 128 from a 10k-transition FIFO buffer: transition by transition "
          f"{sampling['d3rlpy_ms']:.2f} ms, as index arrays {sampling['batched_ms']:.3f} ms")
    records += [{"kernel": "job start-up", **start_up}, {"kernel": "replay mini-batch 128", **sampling}]
    print(f"\nload average after: {os.getloadavg()[0]:.2f} (a load above the thread count means these numbers"
          " were taken beside other work)")
    print("historical figures, measured elsewhere (not in this run; no ratio is taken):")
    for line in HISTORICAL:
        print(f"  - {line}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"load_before_after": os.getloadavg()[0], "records": records}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
