"""True env + MPC on the five test agents of one env, for planner settings side by side.

    python -m persim.planner_check mountaincar --candidates 1000 --horizon 50 --episodes 100

Plans on the batched true dynamics (no learned model), so it measures the planner alone: the
authors' details (the defaults of :class:`persim.planning.mpc.MPCConfig`) against the earlier
planner without them. Prints the mean return per test agent and the wall time of each variant.
"""
from __future__ import annotations

import argparse
import time

from persim.cli import int_at_least
from persim.envs import get_spec
from persim.evaluation.reward import evaluate_mpc, true_step_factory
from persim.planning.factory import make_planner

VARIANTS = {
    "authors": {"warm_start": True, "bonus_per_step": True, "count_terminal_reward": False},
    "warm_start_only": {"warm_start": True, "bonus_per_step": False, "count_terminal_reward": True},
    "no_details": {"warm_start": False, "bonus_per_step": False, "count_terminal_reward": True},
}


def agent_means(env: str, flags: dict, candidates: int, horizon: int, episodes: int, seed: int) -> list[float]:
    """Mean return of each test agent over ``episodes`` lock-step episodes (list of 5 floats)."""
    spec = get_spec(env)
    covs = [spec.covariate_dict(c) for c in spec.test_agents for _ in range(episodes)]
    planner = make_planner(env, {"n_candidates": candidates, "horizon": horizon, **flags}, 1, seed=seed)
    returns = evaluate_mpc(env, covs, planner, true_step_factory(env, covs, candidates), len(covs), seed)
    return returns.reshape(len(spec.test_agents), episodes).mean(1).tolist()


def _variants(text: str) -> list[str]:
    """An argparse type: comma-separated names of :data:`VARIANTS`, all checked before any runs."""
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    return names


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m persim.planner_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("env", choices=["mountaincar", "cartpole"])
    ap.add_argument("--candidates", type=int_at_least(1), default=1000)
    ap.add_argument("--horizon", type=int_at_least(1), default=50)
    ap.add_argument("--episodes", type=int_at_least(1), default=20, help="episodes per test agent")
    ap.add_argument("--variants", type=_variants, default=list(VARIANTS),
                    help=f"comma-separated, of {list(VARIANTS)} (default: all)")
    ap.add_argument("--seed", type=int_at_least(0), default=0)
    args = ap.parse_args(argv)
    for name in args.variants:
        start = time.perf_counter()
        means = agent_means(args.env, VARIANTS[name], args.candidates, args.horizon, args.episodes, args.seed)
        print(f"{args.env} {name:16s} {args.candidates}x{args.horizon}, {args.episodes} episodes/agent: "
              + " / ".join(f"{m:.1f}" for m in means) + f"  ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
