"""Retrain one simulator of a finished run with changed settings or seeds, and judge it as the run did.

    python -m persim.retrain_check results/quick mountaincar pure --method persim \\
        --set standardize=false --seeds 0 1 2
    python -m persim.retrain_check results/quick cartpole random --reuse --mpc n_candidates=1000 horizon=50

Reads the run's provenance sidecars of ``<env>/<dataset>/<method>/`` (``model.pt``, ``prediction.csv``
and ``reward.csv`` ``.meta.json``): the training settings, the training seed and the dataset; the
prediction test's settings; the MPC evaluation's planner, seeds, episodes and episode cap. It then
trains the method once per ``--seeds`` value S (default: the run's own training seed; a run that
retrains per reward seed gets one simulator per seed, from S, S + 1, ... or from the run's own
seeds) with the run's settings updated by ``--set field=value`` (a field of the method's config
dataclass, the value read as YAML and of the field's type), scores each model with the run's own
prediction test and MPC evaluation, and prints per test agent the RMSE and mean return beside the
run's recorded cells and the paper's, with the number of cells reproduced or better (the
comparison's rules, :mod:`persim.reporting.verdicts`).

``--reuse`` scores the run's own saved simulator(s) instead, and ``--mpc field=value`` changes the
planner (a field of :class:`~persim.planning.mpc.MPCConfig`), e.g. ``--reuse --mpc n_candidates=1000``
asks what the run's model scores at the paper's budget.

Nothing in the run is written: a question such as "does the authors' raw-unit training help
MountainCar's `pure` model?" or "how much does the training seed move these cells?" is answered
without touching the pipeline's outputs. With no ``--set`` and the run's own seed the retrained
model gives the run's own cells (tested), so a difference is the settings' or the seed's.
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from persim.config import ConfigError
from persim.data import load_dataset
from persim.envs import get_spec
from persim.evaluation.prediction import TestRollouts, evaluate_prediction
from persim.evaluation.reward import plan_rewards, reward_episodes
from persim.methods import SIMULATOR_METHODS, get_method, load_simulator
from persim.planning.mpc import MPCConfig
from persim.reporting.compare import normalize_dataset, normalize_env, normalize_method, paper_prediction, paper_reward
from persim.reporting.paper import load_paper_tables
from persim.reporting.verdicts import reward_verdicts, rmse_verdicts

GOOD = ("reproduced", "better")
LABEL_WIDTH = 40  # "retrained, seed <seed>/<seed>" with 10-digit seeds


def sidecar(path: Path) -> dict[str, Any]:
    """The provenance record written beside ``path`` (``<path>.meta.json``); a clear error if absent."""
    meta = Path(f"{path}.meta.json")
    if not meta.is_file():
        raise FileNotFoundError(f"{meta} not found: retrain_check needs a finished run's {path.name} and its record")
    return json.loads(meta.read_text())


def run_facts(run_dir: Path, env: str, dataset: str, method: str) -> dict[str, Any]:
    """What the run did for one (env, dataset, method): ``train`` (settings, seed, dataset path);
    ``train_seeds`` and ``models``, the seed and file of each simulator its reward evaluation planned on
    (one, or one per reward seed); ``prediction`` and ``reward`` (each rule's settings); and its
    recorded ``cells`` per test agent."""
    where = run_dir / env / dataset / method
    train = sidecar(where / "model.pt")
    data = [p for p in train["inputs"] if Path(p).name == f"{dataset}.parquet"]
    if not data:
        raise ValueError(f"{where}/model.pt.meta.json names no {dataset}.parquet among its inputs {train['inputs']}")
    reward = sidecar(where / "reward.csv")
    # one simulator for every reward seed, or one per seed (retrain_per_seed), each from its own seed
    models = [in_run(run_dir, env, p) for p in reward["inputs"] if Path(p).name == "model.pt"]
    return {"train": {**train["settings"], "trained_with": train.get("trained_with", {}),
                      "dataset_path": in_run(run_dir, env, data[0])},
            "train_seeds": [sidecar(m)["seed"] for m in models] or [train["seed"]],
            "models": models or [where / "model.pt"],
            "prediction": sidecar(where / "prediction.csv")["settings"],
            "reward": reward["settings"],
            "cells": recorded_cells(where)}


def in_run(run_dir: Path, env: str, recorded: str) -> Path:
    """A path a record names (relative to where the run ran, e.g. ``results/quick/<env>/...``) under
    ``run_dir``, wherever the run now lies."""
    parts = Path(recorded).parts
    return run_dir.joinpath(*parts[parts.index(env):])


def recorded_cells(where: Path) -> pd.DataFrame:
    """The run's own RMSE and reward per test agent (columns ``agent``, ``rmse``, ``reward``)."""
    pred = pd.read_csv(where / "prediction.csv")[["agent", "rmse"]]
    rew = pd.read_csv(where / "reward.csv")[["agent", "reward"]]
    return pred.merge(rew, on="agent", how="outer").sort_values("agent").reset_index(drop=True)


def parse_overrides(pairs: list[str], option: str = "--set") -> dict[str, Any]:
    """``["field=value", ...]`` -> ``{field: value}``, each value read as YAML (``false``, ``[256]``, ``3``)."""
    out = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep or not field.strip():
            raise ConfigError(f"{option} {pair!r}: expected field=value, e.g. standardize=false")
        out[field.strip()] = yaml.safe_load(value)
    return out


def method_config(method: str, facts: dict[str, Any], overrides: dict[str, Any]):
    """The method's config dataclass: the run's settings (with the rank it trained with) updated by
    ``overrides``; a field the method does not have raises ConfigError naming it."""
    train = facts["train"]
    settings = dict(train["model"])
    if "rank" in train["trained_with"]:  # a rank chosen by the run's cross-validation
        settings["rank"] = train["trained_with"]["rank"]
    base = get_method(method).make_config(settings, train["env"], train["max_episode_steps"])
    for field, value in overrides.items():
        current = getattr(base, field, None)
        if current is not None and not _same_kind(current, value):
            raise ConfigError(f"--set {field}={value!r}: expected a {type(current).__name__} like the run's {current!r}")
    return get_method(method).make_config({**settings, **overrides}, train["env"], train["max_episode_steps"])


def planner_settings(facts: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The run's recorded MPC settings updated by ``overrides`` (fields of
    :class:`~persim.planning.mpc.MPCConfig`, typed like its defaults; ConfigError naming a bad one)."""
    known = {f.name: f.default for f in fields(MPCConfig)}
    for field, value in overrides.items():
        if field not in known:
            raise ConfigError(f"--mpc {field}: not a planner setting; known: {sorted(known)}")
        if not _same_kind(known[field], value):
            raise ConfigError(f"--mpc {field}={value!r}: expected a {type(known[field]).__name__}")
    return {**facts["reward"]["mpc"], **overrides}


def _same_kind(current: Any, value: Any) -> bool:
    """Whether ``value`` can stand where the config holds ``current`` (bool, int, float, sequence, str)."""
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, (int, float)):
        return isinstance(value, (int, float)) and (isinstance(current, float) or isinstance(value, int))
    if isinstance(current, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(current))


def score(sims: list, facts: dict[str, Any], agents: pd.DataFrame, rollouts, device: str,
          n_episodes: int | None = None, mpc: dict[str, Any] | None = None) -> pd.DataFrame:
    """Per test agent ``agent``, ``rmse`` (the run's prediction test, on ``sims[0]``) and ``reward`` (its
    MPC evaluation on ``sims``, one for every seed or one per seed: planner, seeds and episode cap as
    recorded; ``n_episodes`` per seed and the planner settings ``mpc`` if given)."""
    p, r = facts["prediction"], facts["reward"]
    test = agents.query("test_agent > 0")
    rmse = []
    for _, row in test.iterrows():
        aid = int(row["agent_id"])
        ro = TestRollouts(rollouts[f"states_{aid}"], rollouts[f"actions_{aid}"], rollouts[f"terminated_{aid}"])
        rmse.append(evaluate_prediction(sims[0], aid, ro, warmup=p["warmup"], horizon=p["horizon"],
                                        feedback=p["feedback"])["rmse"])
    plan = reward_episodes(test, get_spec(r["env"]), r["seed"], r["n_seeds"], n_episodes or r["n_episodes"])
    returns = plan_rewards(r["env"], plan, sims, mpc or r["mpc"], r["seed"], r["max_episode_steps"], device,
                           r["terminal_reward"])
    reward = [float(np.mean(s)) for s in plan.seed_means(returns)]
    return pd.DataFrame({"agent": test["test_agent"].astype(int).to_numpy(), "rmse": rmse, "reward": reward})


def paper_cells(env: str, dataset: str, method: str) -> pd.DataFrame:
    """The paper's cells of this (env, dataset, method): ``agent``, ``paper_rmse``, ``paper_reward``,
    ``paper_std`` (NaN where the paper has none)."""
    paper = load_paper_tables()
    key = {"env": normalize_env(env), "dataset": normalize_dataset(dataset),
           "method": normalize_method(get_method(method).label)}
    pick = lambda f: f[(f["env"] == key["env"]) & (f["dataset"] == key["dataset"]) & (f["method"] == key["method"])]  # noqa: E731
    pred = pick(paper_prediction(paper))[["agent", "paper"]].rename(columns={"paper": "paper_rmse"})
    rew = pick(paper_reward(paper))[["agent", "paper", "paper_std"]].rename(columns={"paper": "paper_reward"})
    out = pd.DataFrame({"agent": range(1, 6)})
    return out.merge(pred, on="agent", how="left").merge(rew, on="agent", how="left")


def good_counts(cells: pd.DataFrame, paper: pd.DataFrame) -> tuple[int, int]:
    """Cells reproduced or better against the paper: (prediction, reward), by the comparison's rules."""
    both = paper.merge(cells, on="agent", how="left")
    rmse = rmse_verdicts(both["rmse"], both["paper_rmse"])
    reward, _ = reward_verdicts(both["reward"], both["paper_reward"], both["paper_std"])
    return int(np.isin(rmse, GOOD).sum()), int(np.isin(reward, GOOD).sum())


def _line(label: str, cells: pd.DataFrame, paper: pd.DataFrame) -> str:
    n_pred, n_rew = good_counts(cells, paper)
    rmse = " ".join(f"{x:8.4f}" for x in cells["rmse"])
    reward = " ".join(f"{x:8.1f}" for x in cells["reward"])
    return f"{label:<{LABEL_WIDTH}s} rmse {rmse} | reward {reward} | good {n_pred}/{len(paper)} + {n_rew}/{len(paper)}"


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m persim.retrain_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="a finished run's outdir, e.g. results/quick")
    ap.add_argument("env")
    ap.add_argument("dataset")
    ap.add_argument("--method", default="persim", choices=sorted(SIMULATOR_METHODS))
    ap.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="config fields to change, e.g. standardize=false epochs=600")
    ap.add_argument("--seeds", nargs="*", type=int, default=None, help="training seeds (default: the run's own)")
    ap.add_argument("--reuse", action="store_true",
                    help="score the run's own saved simulator(s) instead of retraining (with --mpc / --episodes)")
    ap.add_argument("--mpc", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="planner settings to change, e.g. n_candidates=1000 horizon=50")
    ap.add_argument("--episodes", type=int, default=None, help="MPC episodes per seed (default: the run's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1, as the quick profile trains: two such runs fill 2 cores)")
    args = ap.parse_args(argv)
    if args.reuse and (args.overrides or args.seeds is not None):
        ap.error("--reuse scores the saved simulator: it takes no --set or --seeds")
    return args


def _header(args: argparse.Namespace, facts: dict[str, Any], overrides: dict, mpc: dict, n_transitions: int,
            paper: pd.DataFrame) -> None:
    what = "the run's saved simulator" if args.reuse else f"retrained, changed: {overrides or 'nothing'}"
    print(f"{args.method} on {args.env} {args.dataset} ({n_transitions} transitions); {what}; MPC {mpc}, "
          f"{facts['reward']['n_seeds']} seeds x {args.episodes or facts['reward']['n_episodes']} episodes; "
          "'good' = reproduced or better (prediction + reward)")
    print(f"{'paper':<{LABEL_WIDTH}s} rmse " + " ".join(f"{x:8.4f}" for x in paper["paper_rmse"])
          + " | reward " + " ".join(f"{x:8.1f}" for x in paper["paper_reward"]))
    print(_line("the run (recorded)", facts["cells"], paper), flush=True)


def _trials(args: argparse.Namespace, facts: dict[str, Any], cfg, ds, agents: pd.DataFrame):
    """``(label, simulators)`` per trial: the saved ones (``--reuse``), or retrained from each seed."""
    if args.reuse:
        yield "the run's simulator", [load_simulator(args.method, m, args.device) for m in facts["models"]]
        return
    log = logging.getLogger("persim.retrain_check")
    n = len(facts["train_seeds"])
    for seeds in [facts["train_seeds"]] if args.seeds is None else [[s + k for k in range(n)] for s in args.seeds]:
        yield (f"retrained, seed {'/'.join(map(str, seeds))}",
               [get_method(args.method).train(ds, agents, cfg, seed, args.device, log)[0] for seed in seeds])


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    torch.set_num_threads(max(1, args.threads))
    try:
        facts = run_facts(args.run_dir, args.env, args.dataset, args.method)
        overrides = parse_overrides(args.overrides)
        cfg = method_config(args.method, facts, overrides)
        mpc = planner_settings(facts, parse_overrides(args.mpc, "--mpc"))
    except (ConfigError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}")
        return 1
    agents = pd.read_parquet(args.run_dir / args.env / "agents.parquet")
    rollouts = np.load(args.run_dir / args.env / "test_rollouts.npz")
    ds = load_dataset(facts["train"]["dataset_path"], env=args.env, n_agents=len(agents))
    paper = paper_cells(args.env, args.dataset, args.method)
    _header(args, facts, overrides, mpc, ds.n_transitions, paper)
    for label, sims in _trials(args, facts, cfg, ds, agents):
        print(_line(label, score(sims, facts, agents, rollouts, args.device, args.episodes, mpc), paper), flush=True)
    return 0


if __name__ == "__main__":
    from persim.retrain_check import main as _main  # the package's own module, not a __main__ copy

    raise SystemExit(_main())
