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
without touching the pipeline's outputs. With no ``--set``, the run's own seeds, its devices and its
training threads (the defaults; the threads read from its training log, ``--threads`` overrides)
the retrained model gives the run's own cells (tested on the smoke run, on the CPU with 1 thread),
so a difference is the settings' or the seed's.
The config rebuilt from the run's settings must equal the one it recorded (``trained_with``): if a
default has changed since the run, the tool stops and names the fields.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from persim.cli import int_at_least
from persim.config import ConfigError, build_dataclass
from persim.data import load_dataset
from persim.device import resolve_device
from persim.envs import get_spec
from persim.evaluation.prediction import TestRollouts, evaluate_prediction
from persim.evaluation.reward import plan_rewards, reward_episodes
from persim.methods import SIMULATOR_METHODS, get_method, load_simulator
from persim.planning.mpc import MPCConfig
from persim.prediction_check import check_run, test_agent_rollouts
from persim.provenance import sidecar_path
from persim.reporting.compare import normalize_dataset, normalize_env, normalize_method, paper_prediction, paper_reward
from persim.reporting.paper import load_paper_tables
from persim.reporting.verdicts import reward_verdicts, rmse_verdicts
from persim.trace import read_provenance

GOOD = ("reproduced", "better")


def sidecar(path: Path) -> dict[str, Any]:
    """The provenance record of ``path`` (:func:`persim.trace.read_provenance`); a clear error if absent
    or unreadable."""
    try:
        record = read_provenance(path)
    except json.JSONDecodeError as err:
        raise ValueError(f"{sidecar_path(path)}: not a readable provenance record ({err})") from err
    except Exception as err:  # no sidecar: the record embedded in a damaged .pt or Parquet file
        raise ValueError(f"{path}: no sidecar, and no readable provenance record in the file "
                         f"({type(err).__name__}: {err})") from err
    if record is None:
        raise FileNotFoundError(f"{sidecar_path(path)} not found: retrain_check needs a finished run's "
                                f"{path.name} and its record")
    return record


def run_facts(run_dir: Path, env: str, dataset: str, method: str) -> dict[str, Any]:
    """What the run did for one (env, dataset, method): ``train`` (settings, seed, dataset path, the
    config it ``trained_with``, device); ``train_seeds`` and ``models``, the seed and file of each
    simulator its reward evaluation planned on (one, or one per reward seed); ``prediction`` and
    ``reward`` (each rule's settings); and its recorded ``cells`` per test agent. No run, env or
    trained dataset raises FileNotFoundError naming it (:func:`~persim.prediction_check.check_run`);
    a record that lacks a field raises ValueError naming the file and the field."""
    where = check_run(run_dir, env, dataset, method)
    train, reward = sidecar(where / "model.pt"), sidecar(where / "reward.csv")
    try:
        outdir = Path(train["outputs"][0]).parents[3]  # <outdir>/<env>/<dataset>/<method>/model.pt
        data = [p for p in train["inputs"] if Path(p).name == f"{dataset}.parquet"]
        models = [p for p in reward["inputs"] if Path(p).name == "model.pt"]  # one per seed, or one
        facts = {"train": {**train["settings"], "trained_with": train["trained_with"], "device": train["device"],
                           "dataset_path": run_dir / Path(data[0]).relative_to(outdir)},
                 "models": [run_dir / Path(m).relative_to(outdir) for m in models],
                 "prediction": sidecar(where / "prediction.csv")["settings"],
                 "reward": reward["settings"]}
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"{where}: the run's records lack what retrain_check reads ({err!r}; "
                         "model.pt.meta.json: outputs, inputs with the dataset, settings, trained_with, device; "
                         "reward.csv.meta.json: inputs with the model(s), settings)") from err
    facts["train_seeds"] = [sidecar(m)["seed"] for m in facts["models"]]
    facts["train_threads"] = logged_threads(run_dir / "logs" / env / dataset / method / "train.log")
    facts["cells"] = recorded_cells(where)
    return facts


def logged_threads(log: Path) -> int | None:
    """The torch threads a rule ran with, from the first line of its log (``... threads N``), or None
    if the log is absent or says nothing (the provenance record does not hold them)."""
    try:
        first = log.open().readline()
    except OSError:
        return None
    found = re.search(r" threads (\d+)\s*$", first)
    return int(found.group(1)) if found else None


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
    ``overrides``. ConfigError for a field the method does not have or a value of another type, and
    if today's code builds from the run's settings another config than the run recorded (a default
    changed since): then the retrained model would not be the run's."""
    train = facts["train"]
    settings = dict(train["model"])
    if "rank" in train["trained_with"]:  # a rank chosen by the run's cross-validation
        settings["rank"] = train["trained_with"]["rank"]
    spec = get_method(method)
    base = spec.make_config(settings, train["env"], train["max_episode_steps"])
    changed = {k: (v, train["trained_with"].get(k)) for k, v in asdict(base).items()
               if _plain(v) != _plain(train["trained_with"].get(k))}
    if changed:
        raise ConfigError(f"the run trained with other {method} settings than today's code builds from its "
                          f"record: {changed} (today's, recorded); pass them with --set to retrain as the run did")
    typed = {k: _typed("--set", k, v, getattr(base, k, None)) for k, v in overrides.items()}
    return spec.make_config({**settings, **typed}, train["env"], train["max_episode_steps"])


def _plain(value: Any) -> Any:
    """Tuples as lists (a record in JSON holds lists)."""
    return list(value) if isinstance(value, tuple) else value


def planner_settings(facts: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The run's recorded MPC settings updated by ``overrides`` (fields of
    :class:`~persim.planning.mpc.MPCConfig`, typed like its defaults; ConfigError naming a bad one)."""
    known = {f.name: f.default for f in fields(MPCConfig)}
    typed = {k: _typed("--mpc", k, v, known.get(k)) for k, v in overrides.items()}
    mpc = {**facts["reward"]["mpc"], **typed}
    build_dataclass(MPCConfig, mpc, "--mpc")  # an unknown field: one ConfigError listing the known ones
    return mpc


def _typed(option: str, field: str, value: Any, current: Any) -> Any:
    """``value`` for a field that holds ``current``: a YAML string such as ``1e-3`` read as a float where
    a float is wanted; ConfigError if it is of another kind (bool, int, float, sequence, str)."""
    if isinstance(current, float) and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if current is None or _same_kind(current, value):
        return value
    raise ConfigError(f"{option} {field}={value!r}: expected type {type(current).__name__}, like the run's {current!r}")


def _same_kind(current: Any, value: Any) -> bool:
    """Whether ``value`` can stand where the config holds ``current`` (bool, int, float, sequence, str)."""
    if isinstance(current, bool) or isinstance(value, bool):
        return isinstance(current, bool) and isinstance(value, bool)
    if isinstance(current, (int, float)):
        return isinstance(value, (int, float)) and (isinstance(current, float) or isinstance(value, int))
    if isinstance(current, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(current))


def score(sims: list, facts: dict[str, Any], agents: pd.DataFrame, rows: list[tuple[int, int, TestRollouts]],
          device: str, n_episodes: int | None = None, mpc: dict[str, Any] | None = None,
          predictor=None) -> pd.DataFrame:
    """Per test agent of ``rows`` (:func:`persim.prediction_check.test_agent_rollouts`) ``agent``,
    ``rmse`` (the run's prediction test, on ``predictor``, default
    ``sims[0]``: the pipeline's rule runs it on a CPU copy) and ``reward`` (its MPC evaluation on ``sims``,
    one for every seed or one per seed, planning on ``device``: planner, seeds and episode cap as
    recorded; ``n_episodes`` per seed and the planner settings ``mpc`` if given). One torch thread,
    as the pipeline's evaluation rules run."""
    torch.set_num_threads(1)
    p, r = facts["prediction"], facts["reward"]
    rmse = [evaluate_prediction(predictor or sims[0], aid, ro, warmup=p["warmup"], horizon=p["horizon"],
                                feedback=p["feedback"])["rmse"] for _, aid, ro in rows]
    test = agents.query("test_agent > 0")  # in the order of ``rows`` (prediction_check.test_agent_rollouts)
    plan = reward_episodes(test, get_spec(r["env"]), r["seed"], r["n_seeds"], n_episodes or r["n_episodes"])
    returns = plan_rewards(r["env"], plan, sims, mpc or r["mpc"], r["seed"], r["max_episode_steps"], device,
                           r["terminal_reward"])
    reward = [float(np.mean(s)) for s in plan.seed_means(returns)]
    return pd.DataFrame({"agent": [agent for agent, _, _ in rows], "rmse": rmse, "reward": reward})


def on_device(method: str, sim, device: str):
    """``sim`` itself if it lives on ``device``, else a copy there (saved and reloaded through the registry)."""
    if torch.device(sim.device) == torch.device(device):
        return sim
    with tempfile.TemporaryDirectory() as tmp:
        sim.save(Path(tmp) / "model.pt")
        return load_simulator(method, Path(tmp) / "model.pt", device)


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


def good_counts(cells: pd.DataFrame, paper: pd.DataFrame) -> str:
    """``"good P/p + R/q"``: cells reproduced or better against the paper's p prediction and q reward
    cells (those it has), by the comparison's rules."""
    both = paper.merge(cells, on="agent", how="left")
    rmse = rmse_verdicts(both["rmse"], both["paper_rmse"])
    reward, _ = reward_verdicts(both["reward"], both["paper_reward"], both["paper_std"])
    return (f"good {int(np.isin(rmse, GOOD).sum())}/{int(paper['paper_rmse'].notna().sum())} + "
            f"{int(np.isin(reward, GOOD).sum())}/{int(paper['paper_reward'].notna().sum())}")


def _line(label: str, cells: pd.DataFrame, paper: pd.DataFrame, width: int) -> str:
    rmse = " ".join(f"{x:8.4f}" for x in cells["rmse"])
    reward = " ".join(f"{x:8.1f}" for x in cells["reward"])
    return f"{label:<{width}s} rmse {rmse} | reward {reward} | {good_counts(cells, paper)}"


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m persim.retrain_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="a finished run's outdir, e.g. results/quick")
    ap.add_argument("env")
    ap.add_argument("dataset")
    ap.add_argument("--method", default="persim", choices=sorted(SIMULATOR_METHODS))
    ap.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="FIELD=VALUE",
                    help="config fields to change, e.g. standardize=false epochs=600")
    ap.add_argument("--seeds", nargs="+", type=int, default=None, help="training seeds (default: the run's own)")
    ap.add_argument("--reuse", action="store_true",
                    help="score the run's own saved simulator(s) instead of retraining (with --mpc / --episodes)")
    ap.add_argument("--mpc", nargs="+", default=[], metavar="FIELD=VALUE",
                    help="planner settings to change, e.g. n_candidates=1000 horizon=50")
    ap.add_argument("--episodes", type=int_at_least(1), default=None, help="MPC episodes per seed (default: the run's)")
    ap.add_argument("--device", default=None,
                    help="auto, cpu or cuda[:N] for training and planning (default: the devices the run used)")
    ap.add_argument("--threads", type=int_at_least(1), default=None,
                    help="torch threads for training (default: the run's, from its training log, else 1); "
                         "scoring uses 1, as the pipeline's evaluation rules")
    args = ap.parse_args(argv)
    if args.reuse and (args.overrides or args.seeds is not None):
        ap.error("--reuse scores the saved simulator: it takes no --set or --seeds")
    return args


def _trial_seeds(args: argparse.Namespace, facts: dict[str, Any]) -> list[list[int]]:
    """The training seeds of each trial (one per simulator the reward evaluation plans on); [] with --reuse."""
    if args.reuse:
        return []
    n = len(facts["train_seeds"])
    return [facts["train_seeds"]] if args.seeds is None else [[s + k for k in range(n)] for s in args.seeds]


def _simulators(args: argparse.Namespace, facts: dict[str, Any], cfg, ds, agents: pd.DataFrame, seeds: list[int],
                device: str) -> list:
    """The run's saved simulators (``seeds`` empty), or new ones trained from ``seeds`` with the run's
    training threads (``--threads`` overrides)."""
    if not seeds:
        return [load_simulator(args.method, m, device) for m in facts["models"]]
    torch.set_num_threads(args.threads or facts["train_threads"] or 1)
    log = logging.getLogger("persim.retrain_check")
    return [get_method(args.method).train(ds, agents, cfg, seed, device, log)[0] for seed in seeds]


def _inputs(args: argparse.Namespace) -> dict[str, Any]:
    """Everything read from the run, checked: facts, config, planner, devices, agents, rollouts, dataset."""
    facts = run_facts(args.run_dir, args.env, args.dataset, args.method)
    overrides = parse_overrides(args.overrides)
    agents = pd.read_parquet(args.run_dir / args.env / "agents.parquet")
    return {"facts": facts, "overrides": overrides, "cfg": method_config(args.method, facts, overrides),
            "mpc": planner_settings(facts, parse_overrides(args.mpc, "--mpc")),
            "train_device": resolve_device(args.device or facts["train"]["device"]),
            "plan_device": resolve_device(args.device or facts["reward"]["device"]),
            "agents": agents, "rows": test_agent_rollouts(args.run_dir, args.env),
            "ds": load_dataset(facts["train"]["dataset_path"], env=args.env, n_agents=len(agents))}


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        inp = _inputs(args)
    except (ConfigError, OSError, ValueError, RuntimeError) as err:  # missing files, bad records, no CUDA
        print(f"error: {err}", file=sys.stderr)
        return 1
    facts, paper = inp["facts"], paper_cells(args.env, args.dataset, args.method)
    trials = _trial_seeds(args, facts)
    labels = [f"retrained, seed {'/'.join(map(str, seeds))}" for seeds in trials] or ["the run's simulator"]
    width = max(len(label) for label in labels + ["the run (recorded)"]) + 2
    what = "the run's saved simulator" if args.reuse else f"retrained, changed: {inp['overrides'] or 'nothing'}"
    print(f"{args.method} on {args.env} {args.dataset} ({inp['ds'].n_transitions} transitions); {what}; "
          f"MPC {inp['mpc']}, {facts['reward']['n_seeds']} seeds x {args.episodes or facts['reward']['n_episodes']} "
          f"episodes on {inp['plan_device']}; 'good' = reproduced or better (prediction + reward)")
    print(f"{'paper':<{width}s} rmse " + " ".join(f"{x:8.4f}" for x in paper["paper_rmse"])
          + " | reward " + " ".join(f"{x:8.1f}" for x in paper["paper_reward"]))
    print(_line("the run (recorded)", facts["cells"], paper, width), flush=True)
    for label, seeds in zip(labels, trials or [[]]):
        sims = _simulators(args, facts, inp["cfg"], inp["ds"], inp["agents"], seeds,
                           inp["plan_device"] if args.reuse else inp["train_device"])
        sims = [on_device(args.method, sim, inp["plan_device"]) for sim in sims]
        cells = score(sims, facts, inp["agents"], inp["rows"], inp["plan_device"], args.episodes, inp["mpc"],
                      predictor=on_device(args.method, sims[0], "cpu"))
        print(_line(label, cells, paper, width), flush=True)
    return 0


if __name__ == "__main__":
    from persim.retrain_check import main as _main  # the package's own module, not a __main__ copy

    raise SystemExit(_main())
