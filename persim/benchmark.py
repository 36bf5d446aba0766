"""Speed benchmarks of the PerSim core (prints figures; not a test).

    python -m persim.benchmark [--quick] [--device cpu|cuda]

Reports, with the settings used: ensemble training throughput (M members in one batched model)
against the authors' implementation measured on a 2-core machine (3.5 s/epoch/member MountainCar,
247k transitions, batch 512; 0.54 s/epoch/member CartPole, batch 64, on the 11.7k transitions of
its random dataset: the sizes the paper's Table 5 gives for the random datasets), MPC step latency for the
MountainCar, CartPole (random shooting, M=5 x 1000 x 50) and HalfCheetah (CEM 200 x 30 x 5)
settings against 0.52 s / 0.62 s (discrete: the evaluation's folded step, and the unfolded
``PerSimNet.step`` for comparison), the time of 200 prediction rollouts (reference 42 s), and the
fraction of the machine's float32 matrix-multiply peak one MountainCar MPC step reaches.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from persim.data.schema import OfflineDataset
from persim.envs.specs import SPECS
from persim.evaluation.prediction import TestRollouts, predict_open_loop
from persim.models import PerSimConfig, PerSimNet, PerSimSimulator, train_persim
from persim.planning import CEM, MPCConfig, RandomShooting, reward_fn

ENV_DIMS = {n: (s.obs_dim, s.n_actions, s.action_dim) for n, s in SPECS.items()}  # D, discrete actions, A
PAPER_MODEL = {
    "mountaincar": dict(rank=3, state_hidden=[256], action_hidden=[], batch_size=512),
    "cartpole": dict(rank=5, state_hidden=[256], action_hidden=[], batch_size=64),
    "halfcheetah": dict(rank=15, state_hidden=[256] * 4, action_hidden=[256, 256], batch_size=512),
}


def synthetic_dataset(env: str, n: int, n_agents: int = 500, seed: int = 0) -> OfflineDataset:
    """Random transitions with the env's shapes (speed only depends on shapes)."""
    d, k, a = ENV_DIMS[env]
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, d)).astype(np.float32)
    actions = rng.integers(k, size=n) if k else rng.uniform(-1, 1, (n, a)).astype(np.float32)
    return OfflineDataset(env, "<synthetic>", {}, rng.integers(n_agents, size=n), np.zeros((n, 1)),
                          np.zeros(n, np.int64), obs, actions, rng.normal(size=n),
                          obs + 0.01 * rng.normal(size=(n, d)).astype(np.float32),
                          np.zeros(n, bool), np.zeros(n, bool))


def bench_training(env: str, n: int, epochs: int, device: str) -> dict:
    """Seconds per epoch of the 5-member ensemble: the median over the epochs after the first (the
    steady state of a 300-epoch run; the first one also warms up the allocator) and the mean of the
    whole call, set-up (tensors, normalisers) and first epoch included."""
    ds = synthetic_dataset(env, n)
    cfg = PerSimConfig(n_members=5, epochs=epochs, **PAPER_MODEL[env])
    start = time.perf_counter()
    _, history = train_persim(ds, 500, cfg, seed=0, device=device)
    whole = (time.perf_counter() - start) / epochs
    steady = float(np.median(history["epoch_s"][1:] or history["epoch_s"]))
    return {"transitions": n, "epoch_s_5_members": steady, "call_s_per_epoch": whole, "transitions_per_s": 5 * n / steady}


def make_sim(env: str, device: str) -> PerSimSimulator:
    d, k, a = ENV_DIMS[env]
    cfg = PerSimConfig(n_members=5, **PAPER_MODEL[env])
    net = PerSimNet(500, d, k, a, cfg).to(device)
    return PerSimSimulator(net, cfg, {"env": env})


def bench_mpc(env: str, device: str, repeats: int, folded: bool = True) -> float:
    """Median seconds of one planner call for one episode; ``folded=False`` plans on
    ``PerSimNet.step`` instead of the evaluation's (folded) planning step."""
    sim = make_sim(env, device)
    d, k, a = ENV_DIMS[env]
    gen = torch.Generator().manual_seed(0)
    if k:
        cfg = MPCConfig()
        planner = RandomShooting(cfg, k, reward_fn(env), 5, position_bonus=0.01 if env == "mountaincar" else 0, generator=gen)
    else:
        cfg = MPCConfig(n_candidates=200, horizon=30)
        planner = CEM(cfg, -torch.ones(a), torch.ones(a), reward_fn(env), 5, generator=gen)
    planner.reset(1)
    if folded:
        step = sim.planning_step([0], cfg.n_candidates)  # the step the reward evaluation uses
    else:
        agents = torch.zeros(cfg.n_candidates, dtype=torch.int64, device=device)
        step = lambda s, act: sim.net.step(agents, s, act)  # noqa: E731
    states = torch.zeros(1, d, device=device)
    planner.act(step, states)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        planner.act(step, states)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def mc_mpc_flops() -> float:
    """Multiply-adds x2 of one MountainCar MPC step: 5 members x 1000 candidates x 50 steps."""
    d, r, h = 2, 3, 256
    per_row = d * h + h * d * r + 2 * d * r  # g_v layers + factor product
    return 2.0 * per_row * 5 * 1000 * 50


def matmul_peak(device: str) -> float:
    x = torch.randn(2048, 2048, device=device)
    torch.mm(x, x)
    t = time.perf_counter()
    for _ in range(5):
        torch.mm(x, x)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return 5 * 2 * 2048**3 / (time.perf_counter() - t)


def bench_prediction(env: str, device: str) -> float:
    sim = make_sim(env, device)
    d, k, a = ENV_DIMS[env]
    rng = np.random.default_rng(0)
    acts = rng.integers(k, size=(200, 60)) if k else rng.uniform(-1, 1, (200, 60, a)).astype(np.float32)
    ro = TestRollouts(rng.normal(size=(200, 61, d)).astype(np.float32), acts)
    t = time.perf_counter()
    predict_open_loop(sim, 0, ro, 10, 50)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="fewer epochs/repeats")
    args = ap.parse_args()
    dev = args.device
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {dev}")
    epochs = 2 if args.quick else 6
    print(f"training: median s/epoch over epochs 2-{epochs} [whole call incl. set-up and epoch 1, per epoch]")
    mc = bench_training("mountaincar", 247_000, epochs, dev)
    print(f"train MountainCar: {mc['transitions']} transitions, batch 512, r=3, M=5: {mc['epoch_s_5_members']:.2f} s/epoch "
          f"[{mc['call_s_per_epoch']:.2f}] ({mc['transitions_per_s']:.0f} member-transitions/s); reference 5 x 3.5 = 17.5 s -> "
          f"{17.5 / mc['epoch_s_5_members']:.1f}x")
    # The references' dataset sizes match the paper's random datasets (Table 5: 500 agents x mean
    # trajectory length): MountainCar 500 x 496.3 = 248k (the 247k quoted), CartPole 500 x 23.4 = 11.7k.
    # CartPole's pure dataset (500 x 186 = 93k) is timed too, at the same per-transition reference.
    for n_cp, label in ((11_700, "random-size"), (93_000, "pure-size")):
        cp = bench_training("cartpole", n_cp, epochs, dev)
        ref = 2.7 * n_cp / 11_700
        print(f"train CartPole ({label}): {cp['transitions']} transitions, batch 64, r=5, M=5: "
              f"{cp['epoch_s_5_members']:.2f} s/epoch [{cp['call_s_per_epoch']:.2f}] ({cp['transitions_per_s']:.0f} member-transitions/s); "
              f"reference 5 x 0.54 s per 11.7k transitions = {ref:.1f} s -> {ref / cp['epoch_s_5_members']:.1f}x")
    reps = 3 if args.quick else 10
    for env, ref in (("mountaincar", 0.52), ("cartpole", 0.62), ("halfcheetah", None)):
        s = bench_mpc(env, dev, reps)
        tail = f"; reference {ref:.2f} s -> {ref / s:.1f}x" if ref else ""
        print(f"MPC step {env}: {s * 1000:.1f} ms{tail}")
        if env != "halfcheetah":  # discrete actions: the folded step; show the unfolded one beside it
            print(f"  same planner on PerSimNet.step (not folded): {bench_mpc(env, dev, reps, folded=False) * 1000:.1f} ms")
        if env == "mountaincar":
            flops, peak = mc_mpc_flops(), matmul_peak(dev)
            print(f"  MountainCar MPC step ~{flops / 1e9:.2f} GFLOP -> {flops / s / 1e9:.1f} GFLOP/s; "
                  f"matmul peak {peak / 1e9:.1f} GFLOP/s ({100 * flops / s / peak:.0f}% of peak)")
    for env in ("mountaincar", "halfcheetah"):
        print(f"200 prediction rollouts x 50 steps {env}: {bench_prediction(env, dev):.3f} s (reference 42 s)")


if __name__ == "__main__":
    main()
