"""What a run's report says about its own scope, beside the cells it compares: where this run's data
differ from the paper's (policies off their target) and which of the paper's settings it does not run
(the numbers of training agents of Tables 14-16). Both are notes printed with the tables, so a missing
or off cell carries its reason where it is read."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from persim.config import ConfigError
from persim.policies.targets import OFF_TARGET
from persim.reporting.labels import ENV_LABELS, SCARCITY_TABLE, SCARCITY_TABLES
from persim.reporting.paper import load_paper_tables

PAPER_SCARCITY_TRIALS = 5  # the paper's trials per N in Tables 14-16 (App. F.6)


def paper_scarcity_n() -> list[int]:
    """The paper's numbers of training agents in Tables 14-16, largest first, read from its cells
    (``paper_tables.csv``)."""
    paper = load_paper_tables()
    return sorted({int(n) for n in paper.loc[paper["table"].isin(SCARCITY_TABLES), "n_train_agents"].dropna()},
                  reverse=True)


@dataclass(frozen=True)
class Scope:
    """What the report says of a run's scope: ``run``, its scale against the paper profile (the tables'
    captions' statement); ``tables``, a note per table number; ``envs``, a note per env."""

    run: str = ""
    tables: dict[int, str] = field(default_factory=dict)
    envs: dict[str, str] = field(default_factory=dict)


def policy_notes(policies: pd.DataFrame | None) -> dict[str, str]:
    """Per env with a logging or test policy more than ``OFF_TARGET`` (25%) off the paper's target
    (``policy_returns.csv``: ``env, policy, mean_return, paper_target, off_target``): one sentence
    naming them, their returns and targets, and what that means for the env's cells."""
    if policies is None or "off_target" not in policies:
        return {}
    notes = {}
    for env, off in policies[policies["off_target"].fillna(False).astype(bool)].groupby("env", sort=False):
        n_all = int((policies["env"] == env).sum())
        listed = ", ".join(f"{r.policy} {r.mean_return:.1f} (target {r.paper_target:g})" for r in off.itertuples())
        notes[env] = (f"{ENV_LABELS.get(env, env)}: {len(off)} of this run's {n_all} policies are more than "
                      f"{OFF_TARGET:.0%} off "
                      f"the paper's target ({listed}), so its datasets and test rollouts are not the paper's and "
                      "its cells compare models of other data; read them as a run of the pipeline, not as a "
                      "reproduction of the paper's numbers.")
    return notes


def main_run_n(config: dict) -> int | None:
    """N at which the main run stands as a trial of Tables 14-16 (``data_scarcity.main_run_trial``): the
    run's ``agents.n_agents``, or None when the option is off. Its agents, datasets and models are a
    trial of that N by construction (the five test agents and N - 5 sampled ones, one trajectory each,
    the same methods and evaluation), so Tables 14-16 get that N from results the run has anyway. Where
    that N is also in ``data_scarcity.n_agents``, the main run is its trial 0 and trials 1 to
    ``n_trials`` - 1 are trained (:func:`trained_trials`).
    Raises :class:`ConfigError`, naming the key, where the main run lacks a method or dataset of Tables
    14-16 (it would have to train them: not a trial at no cost), or where that N is also trained as
    trials while the main run's seeds plan on their own retrained simulators
    (``evaluation.reward.retrain_per_seed``; a trial trains one per method: two experiments under one N)."""
    scarce = config.get("data_scarcity") or {}
    if not scarce.get("main_run_trial"):
        return None
    key, n = "config key 'data_scarcity.main_run_trial'", int(config["agents"]["n_agents"])
    retrained = bool(((config.get("evaluation") or {}).get("reward") or {}).get("retrain_per_seed"))
    if retrained and n in {int(k) for k in scarce["n_agents"]}:
        raise ConfigError(f"{key}: N = {n} (agents.n_agents) is also in data_scarcity.n_agents, but the main run's "
                          "seeds plan on their own retrained simulators (evaluation.reward.retrain_per_seed) where "
                          f"a trial trains one per method; train N = {n} as separate trials there, or let the main "
                          "run stand for it, not both")
    run = set(config["methods"]["simulators"]) | set(config["methods"]["policies"])
    lacking = [m for m in scarce["methods"] if m not in run]
    lacking += [f"{env} {ds} data" for env, ds in scarce["datasets"].items()
                if env in config["envs"] and ds not in config["behaviours"]]
    if lacking:
        raise ConfigError(f"{key}: the main run has no {', '.join(lacking)} (methods.simulators / methods.policies, "
                          "behaviours), so it holds no such cells of Tables 14-16; add them there or turn the "
                          "option off")
    return n


def trained_trials(n: int, n_trials: int, main_n: int | None = None) -> range:
    """The trials of N that Tables 14-16 train: all ``n_trials``, or, at the main run's N (``main_n``,
    :func:`main_run_n`), trials 1 to ``n_trials`` - 1 (the main run is its trial 0)."""
    return range(1 if main_n is not None and int(n) == int(main_n) else 0, int(n_trials))


def unused_trials(trial_dirs: Sequence[str], n_agents: Sequence[int], n_trials: int,
                  main_n: int | None = None) -> list[str]:
    """The trials on disk (directories ``.../scarcity/n<N>_t<k>``, e.g. an overlay's) that Tables 14-16 of
    this config leave out: an N that ``data_scarcity.n_agents`` does not list, or a trial beyond what
    :func:`trained_trials` trains at that N. Names such as ``n250_t0``, largest N first, each once."""
    import re

    used = {(int(n), k) for n in n_agents for k in trained_trials(n, n_trials, main_n)}
    found = {(int(m.group(1)), int(m.group(2))) for d in trial_dirs
             if (m := re.fullmatch(r"n(\d+)_t(\d+)", str(d).rstrip("/").split("/")[-1]))}
    return [f"n{n}_t{k}" for n, k in sorted(found - used, key=lambda nk: (-nk[0], nk[1]))]


def scarcity_note(n_agents: Sequence[int], n_trials: int, main_n: int | None = None,
                  main_retrained: bool = False) -> str:
    """Tables 14-16's note: which of the paper's numbers of training agents this run trains, with how many
    trials, and ``main_n`` (:func:`main_run_n`), the N at which the main run is a trial: its one trial, or,
    where ``n_agents`` lists it too and ``n_trials`` > 1, its trial 0 beside trained ones
    (``main_retrained``: the main run's seeds plan on their own retrained simulators); the paper's other
    N stand as missing cells, not run here."""
    listed, paper = sorted({int(n) for n in n_agents}, reverse=True), paper_scarcity_n()
    shared = main_n is not None and main_n in listed and n_trials > 1  # main run = trial 0, the rest trained
    trained = [n for n in listed if n != main_n]
    skipped = [n for n in paper if n not in listed and n != main_n]
    where = (f"config data_scarcity.n_agents; the paper: {', '.join(map(str, paper))}")
    if trained:
        note = (f"This run trains N = {', '.join(map(str, trained))} ({where}) with {n_trials} trials per N "
                f"(data_scarcity.n_trials; the paper: {PAPER_SCARCITY_TRIALS}); each trial trains one simulator "
                "per method, which every seed of the trial plans on" + ("; one trial: no std." if n_trials == 1 else "."))
    else:
        note = f"This run trains no other N than its main run's ({where})."
    if shared:
        rest = "its second trial is" if n_trials == 2 else f"trials 2-{n_trials} are"
        note += (f" N = {main_n} has {n_trials} trials too: its first is this run's main experiment (agents.n_agents; "
                 f"the models and rewards of Tables 9-11; data_scarcity.main_run_trial), {rest} trained apart.")
    elif main_n is not None:
        note += (f" N = {main_n} is this run's main experiment (agents.n_agents; the models and rewards of "
                 "Tables 9-11) as its one trial (data_scarcity.main_run_trial), so its cells have no std"
                 + ("; its value averages its seeds' own retrained simulators." if main_retrained else "."))
    if skipped:
        note += f" N = {', '.join(map(str, skipped))}: not run in this profile, so their cells are missing."
    return note


def table_notes(scarcity: dict | None, envs: Sequence[str] = tuple(SCARCITY_TABLE)) -> dict[int, str]:
    """Notes per table number from the run's settings (``scarcity``: ``n_agents``, ``n_trials`` and
    optionally ``main_run_n``, ``main_run_retrained``), for the tables of the ``envs`` the run has (a
    table of an env not run says nothing of its N)."""
    if not scarcity:
        return {}
    note = scarcity_note(scarcity["n_agents"], scarcity["n_trials"], scarcity.get("main_run_n"),
                         bool(scarcity.get("main_run_retrained")))
    return {SCARCITY_TABLE[env]: note for env in envs if env in SCARCITY_TABLE}
