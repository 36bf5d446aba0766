"""Where a trained simulator's prediction error sits, per test agent and state coordinate.

    python -m persim.prediction_check results/quick cartpole pure --method persim

Reads a run's ``<env>/test_rollouts.npz``, ``<env>/agents.parquet`` and ``<env>/<dataset>/<method>/model.pt``
and prints, per test agent, the open-loop RMSE of each coordinate (the prediction test's error, split
by coordinate), the one-step RMSE from the true states over the same steps, and the true states'
spread (:func:`persim.evaluation.prediction.coordinate_errors`). A small one-step error with a large
open-loop one is compounding (e.g. CartPole's unstable pole); a large one-step error is the model.
Then, per test agent, how the per-rollout RMSEs spread (mean as in the tables, median, worst) and how
many rollouts' predictions ran away from the true states' range
(:func:`persim.evaluation.prediction.rollout_spread`): a mean far above the median is a few runaway
member trajectories, not a uniformly poor model.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from persim.evaluation.prediction import TestRollouts, coordinate_errors, load_test_rollouts, rollout_spread
from persim.methods import SIMULATOR_METHODS, load_simulator
from persim.protocols import Simulator


def test_agent_rollouts(run_dir: Path, env: str) -> list[tuple[int, int, TestRollouts]]:
    """A finished run's test-policy rollouts per test agent: ``(test_agent, agent_id, TestRollouts)``
    from ``<env>/test_rollouts.npz`` and ``<env>/agents.parquet`` (:func:`load_test_rollouts`)."""
    return load_test_rollouts(run_dir / env / "test_rollouts.npz", pd.read_parquet(run_dir / env / "agents.parquet"))


def _test_agents(run_dir: Path, env: str, dataset: str,
                 method: str) -> tuple[Simulator, list[tuple[int, int, TestRollouts]]]:
    """The trained simulator and, per test agent, ``(test_agent, agent_id, TestRollouts)``."""
    return load_simulator(method, run_dir / env / dataset / method / "model.pt"), test_agent_rollouts(run_dir, env)


def check_rows(run_dir: Path, env: str, dataset: str, method: str, warmup: int, horizon: int,
               feedback: str) -> tuple[list[dict], list[dict]]:
    """Both tables, the simulator and rollouts loaded once: per test agent and coordinate ``agent``,
    ``coordinate``, ``open_loop``, ``one_step``, ``state_std`` (:func:`coordinate_errors`); per test
    agent ``agent`` and :func:`~persim.evaluation.prediction.rollout_spread`."""
    sim, agents = _test_agents(run_dir, env, dataset, method)
    coords, spread = [], []
    for agent, aid, ro in agents:
        err = coordinate_errors(sim, aid, ro, warmup, horizon, feedback)
        coords += [{"agent": agent, "coordinate": d, **{k: float(v[d]) for k, v in err.items()}}
                   for d in range(len(err["open_loop"]))]
        spread.append({"agent": agent, **rollout_spread(sim, aid, ro, warmup, horizon, feedback)})
    return coords, spread


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m persim.prediction_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="a run's outdir, e.g. results/quick")
    ap.add_argument("env")
    ap.add_argument("dataset")
    ap.add_argument("--method", default="persim", choices=sorted(SIMULATOR_METHODS))
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--horizon", type=int, default=50)
    ap.add_argument("--feedback", default="members", choices=["members", "mean"])
    args = ap.parse_args(argv)
    coords, spread = check_rows(args.run_dir, args.env, args.dataset, args.method, args.warmup, args.horizon,
                                args.feedback)
    frame = pd.DataFrame(coords).set_index(["agent", "coordinate"])
    print(f"{args.env}/{args.dataset}/{args.method}: RMSE per state coordinate (raw units)")
    print(frame.to_string(float_format=lambda x: f"{x:.5f}"))
    spread = pd.DataFrame(spread).set_index("agent")
    print("\nper-rollout RMSE (the table's mean, median, worst) and rollouts whose prediction left the true "
          "states' range widened by its span (n_escaped)")
    print(spread.to_string(float_format=lambda x: f"{x:.5g}"))


if __name__ == "__main__":
    main()
