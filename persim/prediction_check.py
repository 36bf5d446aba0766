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

``--warmup``, ``--horizon`` and ``--feedback`` default to the run's own prediction test
(``evaluation.prediction``, as recorded with its ``prediction.csv`` or test rollouts: :func:`run_settings`).
Bad input (no run, an env or dataset the run lacks, a window longer than the test rollouts) gives one
``error:`` line on stderr and exit status 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from persim.cli import int_at_least
from persim.evaluation.prediction import TestRollouts, coordinate_errors, load_test_rollouts, rollout_spread
from persim.methods import SIMULATOR_METHODS, load_simulator
from persim.protocols import Simulator
from persim.trace import read_provenance


PREDICTION = ("warmup", "horizon", "feedback")  # the prediction test's settings a run records
DEFAULTS = {"warmup": 10, "horizon": 50, "feedback": "members"}  # where the run recorded none


def test_agent_rollouts(run_dir: Path, env: str) -> list[tuple[int, int, TestRollouts]]:
    """A finished run's test-policy rollouts per test agent: ``(test_agent, agent_id, TestRollouts)``
    from ``<env>/test_rollouts.npz`` and ``<env>/agents.parquet`` (:func:`load_test_rollouts`)."""
    return load_test_rollouts(run_dir / env / "test_rollouts.npz", pd.read_parquet(run_dir / env / "agents.parquet"))


def check_run(run_dir: Path, env: str, dataset: str, method: str) -> Path:
    """The run's ``<env>/<dataset>/<method>/`` folder; FileNotFoundError naming the bad argument if
    ``run_dir`` holds no run, the run no ``env`` (or not its test rollouts) or ``method`` was not
    trained on ``dataset`` there, with what the run has."""
    envs = sorted(p.parent.name for p in run_dir.glob("*/agents.parquet")) if run_dir.is_dir() else []
    if not envs:
        raise FileNotFoundError(f"no run at {run_dir} (no <env>/agents.parquet under it; give a run's outdir, "
                                "e.g. results/quick)")
    if env not in envs:
        raise FileNotFoundError(f"env {env!r} not in the run at {run_dir}: has {envs}")
    if not (run_dir / env / "test_rollouts.npz").is_file():
        raise FileNotFoundError(f"{run_dir / env / 'test_rollouts.npz'} not found: the run has no test rollouts "
                                f"of {env} yet")
    where = run_dir / env / dataset / method
    if not (where / "model.pt").is_file():
        trained = sorted(p.parent.parent.name for p in (run_dir / env).glob(f"*/{method}/model.pt"))
        raise FileNotFoundError(f"dataset {dataset!r} not trained for env {env} with {method} "
                                f"(no {where / 'model.pt'}): has {trained}")
    return where


def run_settings(run_dir: Path, env: str, dataset: str, method: str) -> dict[str, Any]:
    """The prediction test's settings the run recorded (those of :data:`PREDICTION` it has): in the
    provenance record of this model's ``prediction.csv``, else in the env's test rollouts' record
    (``<env>/test_rollouts.json``, written with them); {} if neither is there."""
    for path in (run_dir / env / dataset / method / "prediction.csv", run_dir / env / "test_rollouts.npz"):
        try:
            settings = (read_provenance(path) or {}).get("settings", {})
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: its provenance record is not readable JSON ({err})") from err
        if settings:
            return {k: settings[k] for k in PREDICTION if k in settings}
    return {}


def check_window(rows: list[tuple[int, int, TestRollouts]], warmup: int, horizon: int, source: Path) -> None:
    """ValueError unless every test rollout of ``rows`` (read from ``source``) holds ``warmup + horizon`` steps."""
    steps = min(ro.actions.shape[1] for _, _, ro in rows) if rows else 0
    if warmup + horizon > steps:
        raise ValueError(f"warmup {warmup} + horizon {horizon} = {warmup + horizon} steps, but the test rollouts "
                         f"of {source} hold {steps}: give --warmup and --horizon that sum to at most {steps}")


def _test_agents(run_dir: Path, env: str, dataset: str, method: str, warmup: int,
                 horizon: int) -> tuple[Simulator, list[tuple[int, int, TestRollouts]]]:
    """The trained simulator and, per test agent, ``(test_agent, agent_id, TestRollouts)``, the
    rollouts checked to hold ``warmup + horizon`` steps first (:func:`check_window`)."""
    rows = test_agent_rollouts(run_dir, env)
    check_window(rows, warmup, horizon, run_dir / env / "test_rollouts.npz")
    return _load_model(method, run_dir / env / dataset / method / "model.pt"), rows


def _load_model(method: str, path: Path) -> Simulator:
    """:func:`~persim.methods.load_simulator`; ValueError naming ``path`` if it holds no such model."""
    try:
        return load_simulator(method, path)
    except Exception as err:  # torch.load and the loaders raise many kinds on a damaged or foreign file
        raise ValueError(f"{path}: not a {method} model this code can load ({type(err).__name__}: {err})") from err


def check_rows(run_dir: Path, env: str, dataset: str, method: str, warmup: int, horizon: int,
               feedback: str) -> tuple[list[dict], list[dict]]:
    """Both tables, the simulator and rollouts loaded once: per test agent and coordinate ``agent``,
    ``coordinate``, ``open_loop``, ``one_step``, ``state_std`` (:func:`coordinate_errors`); per test
    agent ``agent`` and :func:`~persim.evaluation.prediction.rollout_spread`. ValueError if a test
    rollout is shorter than ``warmup + horizon`` (:func:`check_window`)."""
    sim, agents = _test_agents(run_dir, env, dataset, method, warmup, horizon)
    coords, spread = [], []
    for agent, aid, ro in agents:
        err = coordinate_errors(sim, aid, ro, warmup, horizon, feedback)
        coords += [{"agent": agent, "coordinate": d, **{k: float(v[d]) for k, v in err.items()}}
                   for d in range(len(err["open_loop"]))]
        spread.append({"agent": agent, **rollout_spread(sim, aid, ro, warmup, horizon, feedback)})
    return coords, spread


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m persim.prediction_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="a run's outdir, e.g. results/quick")
    ap.add_argument("env")
    ap.add_argument("dataset")
    ap.add_argument("--method", default="persim", choices=sorted(SIMULATOR_METHODS))
    ap.add_argument("--warmup", type=int_at_least(0), default=None, help="default: the run's evaluation.prediction")
    ap.add_argument("--horizon", type=int_at_least(1), default=None, help="default: the run's evaluation.prediction")
    ap.add_argument("--feedback", default=None, choices=["members", "mean"],
                    help="default: the run's evaluation.prediction")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        check_run(args.run_dir, args.env, args.dataset, args.method)
        given = {k: getattr(args, k) for k in PREDICTION if getattr(args, k) is not None}
        use = {**DEFAULTS, **run_settings(args.run_dir, args.env, args.dataset, args.method), **given}
        coords, spread = check_rows(args.run_dir, args.env, args.dataset, args.method, use["warmup"], use["horizon"],
                                    use["feedback"])
    except (OSError, ValueError) as err:  # a missing run, env, model or file; too short rollouts; bad records
        print(f"error: {err}", file=sys.stderr)
        return 1
    frame = pd.DataFrame(coords).set_index(["agent", "coordinate"])
    print(f"{args.env}/{args.dataset}/{args.method}: RMSE per state coordinate (raw units; warmup {use['warmup']}, "
          f"horizon {use['horizon']}, feedback {use['feedback']})")
    print(frame.to_string(float_format=lambda x: f"{x:.5f}"))
    spread = pd.DataFrame(spread).set_index("agent")
    print("\nper-rollout RMSE (the table's mean, median, worst) and rollouts whose prediction left the true "
          "states' range widened by its span (n_escaped)")
    print(spread.to_string(float_format=lambda x: f"{x:.5g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
