# Config validation, wildcard constraints, paths and the small input/params functions.
import sys
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, workflow.basedir)  # parse with this checkout's persim, as the jobs do

from snakemake.utils import validate

from persim.codehash import code_hash
from persim.config import (augmentation_budget_note, augmentation_mpc_settings, check_config, check_method_episodes,
                           check_planners, check_unseen_covariates, mpc_budget_note, mpc_episodes, mpc_episodes_note,
                           mpc_settings, policy_updates_note)
from persim.envs import ENV_NAMES, get_spec
from persim.jobserver import stop as stop_job_server
from persim.policies.targets import paper_target
from argparse import Namespace

from persim.methods import (METHOD_LABELS, POLICY_METHODS, SIMULATOR_METHODS, TRUE_MPC_LABEL, check_method_settings,
                            get_method, run_methods, table3_methods)
from persim.reference_budget import reference_budget_note, reference_methods, reference_mpc_settings
from persim.reporting.labels import TRUE_MPC_REFERENCE, reference_label
from persim.reporting.scope import main_run_n
from persim.reporting.labels import PREDICTION_TABLES as PREDICTION_TABLE
from persim.reporting.labels import REWARD_TABLES as REWARD_TABLE
from persim.scale import paper_profile, section_note, training_note
from persim.seeding import derive_seed


check_config(config, Path(workflow.basedir) / "config" / "schema.yaml")  # names the bad key
validate(config, "../config/schema.yaml")

OUT = config["outdir"].rstrip("/")
ENV_FILE = "../environment.yml"  # software of every rule (used with --use-conda / --sdm conda)
ENVS = config["envs"]
BEHAVIOURS = config["behaviours"]
PACKAGE = Path(workflow.basedir) / "persim"  # scripts import this copy (scripts/_bootstrap.py)
SCRIPTS = Path(workflow.basedir) / "scripts"
TRAIN_THREADS = config["train_threads"]  # CPU threads of each training job (torch intra-op)
SIMULATORS = config["methods"]["simulators"]  # the methods this run puts into the tables
POLICIES = config["methods"]["policies"]

# every method's settings built into its config dataclass now: a bad key stops `snakemake -n`
check_method_settings(config, ENVS, run_methods(config))  # Tables 3 and 12-16's methods too
check_method_episodes(config)
check_planners(config, ENVS)  # e.g. more CEM elites than candidates
check_unseen_covariates(config)


wildcard_constraints:
    env="|".join(ENV_NAMES),
    policy=r"logging\d+|test",
    behaviour="pure|random|pure_eps20|pure_eps40",
    method="|".join(SIMULATOR_METHODS),
    pmethod="|".join(POLICY_METHODS),
    k=r"[1-9]\d*",


@lru_cache(maxsize=None)
def code(script, *methods):
    """Hash of the persim sources a rule's script runs (its imports, followed transitively), plus
    the modules of ``methods`` (registry modules are imported by name). Passed as a param, so editing
    those modules reruns the rule (Snakemake's params trigger) and edits elsewhere do not."""
    entries = [SCRIPTS / script] + [get_method(m).module for m in methods if m]
    return code_hash(entries, PACKAGE)


# ---- paths -------------------------------------------------------------------------------
def agents_path(env):
    return f"{OUT}/{env}/agents.parquet"


def policy_path(env, policy, ext="d3"):
    return f"{OUT}/{env}/policies/{policy}.{ext}"


def dataset_path(env, behaviour):
    return f"{OUT}/{env}/datasets/{behaviour}.parquet"


def method_path(env, behaviour, method, name):
    return f"{OUT}/{env}/{behaviour}/{method}/{name}"


def retrain_per_seed():
    """Whether each reward seed of Tables 9-11 plans on its own retrained simulator (the authors' trials)."""
    return bool(config["evaluation"]["reward"].get("retrain_per_seed", False))


def seed_models(wildcards):
    """The simulators eval_reward plans on, one per seed (seed 0: the dataset's model, which the
    prediction evaluation also scores) or the one model for every seed."""
    main = method_path(wildcards.env, wildcards.behaviour, wildcards.method, "model.pt")
    if not retrain_per_seed():
        return [main]
    n = config["evaluation"]["reward"]["n_seeds"]
    return [main] + [method_path(wildcards.env, wildcards.behaviour, wildcards.method, f"seed{k}/model.pt")
                     for k in range(1, n)]


PAPER_N_AGENTS = 500  # the paper's training agents per env (Tables 3, 5-13): the key of its cells
PAPER_PROFILE = paper_profile()  # config/config.yaml: what the captions compare this run's settings with
MAIN_N = main_run_n(config)  # Tables 14-16's N of the main run (None: off); refused, naming the key, where it can't be


def training_scale_note(methods):
    """The caption's list of training settings of ``methods`` (and the simulators) that differ from the
    paper profile, "" when none do (persim.scale)."""
    return training_note(config, PAPER_PROFILE, [*SIMULATORS, *methods], list(ENVS))


def prediction_test_note():
    """The prediction test's settings that differ from the paper profile, as a sentence ("" if none)."""
    note = section_note(config, PAPER_PROFILE, "evaluation.prediction", "Prediction test settings")
    return f"{note}." if note else ""


def prediction_scale_note():
    """Tables 1 and 6-8: training agents, the simulators' training and the prediction test's settings
    where they differ from the paper profile."""
    training = training_scale_note([])
    return " ".join(n for n in [f"This run ({config['run_name']}): {config['agents']['n_agents']} training agents "
                                f"(paper {PAPER_N_AGENTS}).", f"{training}." if training else "",
                                prediction_test_note()] if n)


def policy_scale_note():
    """Table 5: the logging policies' training where it differs from the paper profile, per env."""
    notes = [section_note(config, PAPER_PROFILE, f"policies.{e}", f"{get_spec(e).label} policy training settings")
             for e in ENVS]
    return " ".join(f"{n}." for n in notes if n)


def seeds_clause():
    """How the reward seeds of Tables 9-11 get their simulators, for the captions."""
    if retrain_per_seed():
        return "; every seed plans on its own retrained simulator (the authors' trials)"
    return "; one simulator per dataset for every seed (the authors retrain it per seed)"


def scale_note(dataset=None, methods=(), extra="", trials=False):
    """The caption's statement of this run's scale (never a silently smaller experiment); with the
    BCQ / CQL training updates of those of ``methods`` the table holds, and ``extra`` (a table's own
    settings) after them. ``trials``: Tables 14-16, whose trials say themselves how they train (their
    note, persim.reporting.scope.scarcity_note), so the main run's simulators-per-seed clause is left out."""
    n = config["agents"]["n_agents"]
    r = config["evaluation"]["reward"]
    true_env = f" (True env + MPC: {r['true_env_episodes']} episodes per seed)" if r.get("true_env_episodes") else ""
    seeds = "" if trials else seeds_clause()
    note = (f"This run ({config['run_name']}): {n} training agents (paper {PAPER_N_AGENTS}), "
            f"{r['n_seeds']} seeds x {r['n_episodes']} MPC episodes{mpc_episodes_note(config, ENVS)} / "
            f"{r['policy_episodes']} policy episodes per agent{true_env}{seeds}; "
            f"{mpc_budget_note(config, ENVS)} (paper: 1000 x 50 discrete, 200 x 30 x 5 CEM it.)")
    updates = policy_updates_note(config, ENVS, list(methods))
    note += f"; {updates}" if updates else ""
    note += f"; {extra}" if extra else ""
    note += f"; {dataset} data." if dataset else "."
    training = training_scale_note(list(methods))
    return note + (f" {training}." if training else "")


def logging_policies(env):
    return get_spec(env).logging_policy_names


# ---- targets -----------------------------------------------------------------------------
def targets_agents():
    return [agents_path(e) for e in ENVS]


def targets_policies():
    return [policy_path(e, p) for e in ENVS for p in get_spec(e).policy_names]


def targets_datasets():
    return [dataset_path(e, b) for e in ENVS for b in BEHAVIOURS]


def targets_simulators():
    return [method_path(e, b, m, "model.pt") for e in ENVS for b in BEHAVIOURS for m in SIMULATORS]


def targets_baseline_policies():
    return [method_path(e, b, m, "policy.pt") for e in ENVS for b in BEHAVIOURS for m in POLICIES]


def targets_predictions():
    return [method_path(e, b, m, "prediction.csv") for e in ENVS for b in BEHAVIOURS for m in SIMULATORS]


def targets_rewards():
    learned = [method_path(e, b, m, "reward.csv") for e in ENVS for b in BEHAVIOURS for m in SIMULATORS + POLICIES]
    true_env = [f"{OUT}/{e}/true_mpc/reward.csv" for e in ENVS if e in config["evaluation"]["reward"]["true_env_mpc"]]
    reference = [f"{OUT}/{e}/true_mpc_reference/reward.csv" for e in ENVS if reference_mpc_settings(config, e)]
    reference += [method_path(e, b, m, "reward_reference.csv") for e in ENVS for b in BEHAVIOURS
                  for m in reference_methods(config, e)]
    return learned + true_env + reference


def targets_figures():
    tsne = [f"{OUT}/figures/fig5_tsne_{e}.png" for e in ENVS]
    traj = [f"{OUT}/figures/fig4_trajectories_{e}.png" for e in ENVS if e in config["figures"]["trajectory_envs"]]
    return tsne + traj


def targets_rank_cv():
    return [f"{OUT}/{e}/rank_cv.csv" for e in ENVS]


def targets_tables():
    return [f"{OUT}/tables/table5.csv", f"{OUT}/tables/table5.tex", f"{OUT}/tables/policy_returns.csv",
            f"{OUT}/tables/prediction_long.csv", f"{OUT}/tables/reward_long.csv", f"{OUT}/report/comparison.html"]


def unseen_agents_run() -> bool:
    """Whether this run has Tables 12-13: their one env (``unseen_agents.env``) is among ``envs``."""
    return config["unseen_agents"]["env"] in ENVS


def extended_tables(wildcards=None):
    """The long CSVs of Tables 3 and 12-16 (rules augmentation, unseen_agents, data_scarcity)."""
    scarce = [f"{OUT}/tables/table{t}.csv" for e, t in (("mountaincar", 14), ("cartpole", 15), ("halfcheetah", 16))
              if e in ENVS]
    unseen = [f"{OUT}/tables/table{t}.csv" for t in (12, 13)] if unseen_agents_run() else []
    return [f"{OUT}/tables/table3.csv", *unseen, *scarce]


# ---- input functions ---------------------------------------------------------------------
def synthetic_input(wildcards):
    """The synthetic trajectories a Table-3 method adds to its data (none for the other methods)."""
    source = get_method(wildcards.pmethod).synthetic_from
    return [method_path(wildcards.env, wildcards.behaviour, source, "synthetic.parquet")] if source else []


def dataset_policy_inputs(wildcards):
    """Logging policies a dataset needs (none for the purely random behaviour)."""
    if config["datasets"]["epsilon"][wildcards.behaviour] >= 1.0:
        return []
    return [policy_path(wildcards.env, p) for p in logging_policies(wildcards.env)]


def all_policy_stats(wildcards):
    return [policy_path(e, p, "json") for e in ENVS for p in get_spec(e).policy_names]


# ---- params: every setting that changes a rule's output ----------------------------------
def agents_settings(wildcards):
    return {"env": wildcards.env, "n_agents": config["agents"]["n_agents"],
            "seed": derive_seed(config["seed"], "agents", wildcards.env)}


def policy_settings(wildcards):
    env, policy = wildcards.env, wildcards.policy
    train = dict(config["policies"][env])
    test_steps = train.pop("test_n_steps", None)
    if policy == "test" and test_steps is not None:
        train["n_steps"] = test_steps
    if train.pop("stop_at_target", False):
        train["stop_return"] = paper_target(env, policy)
    spec = get_spec(env)
    return {
        "env": env, "policy": policy, "train": train,
        "covariates": spec.covariate_dict(spec.policy_covariates(policy)),
        "max_episode_steps": config["episode_steps"][env], "terminal_reward": terminal_reward(env),
        "seed": derive_seed(config["seed"], "policy", env, policy),
        "device": config["device"],
    }


def dataset_settings(wildcards):
    return {"env": wildcards.env, "behaviour": wildcards.behaviour,
            "epsilon": config["datasets"]["epsilon"][wildcards.behaviour],
            "max_episode_steps": config["episode_steps"][wildcards.env],
            "seed": derive_seed(config["seed"], "dataset", wildcards.env)}


def rank_cv_input(wildcards):
    """The rank-CV table for a method that takes its rank from it when ``persim.rank_source: cv``."""
    wanted = get_method(wildcards.method).uses_rank_cv and config["persim"]["rank_source"] == "cv"
    return [f"{OUT}/{wildcards.env}/rank_cv.csv"] if wanted else []


def rank_cv_dataset(wildcards):
    return dataset_path(wildcards.env, config["persim"]["rank_cv"]["dataset"])


def rank_cv_settings(wildcards):
    cv = config["persim"]["rank_cv"]
    model = {**get_method("persim").settings(config, wildcards.env), "n_members": cv["n_members"],
             "epochs": cv.get("env_epochs", {}).get(wildcards.env, cv["epochs"])}
    return {"env": wildcards.env, "dataset": cv["dataset"], "model": model, "ranks": cv["ranks"],
            "val_fraction": cv["val_fraction"], "device": config["device"],
            "seed": derive_seed(config["seed"], "rank_cv", wildcards.env)}


def tsne_settings(wildcards):
    return {"env": wildcards.env, "dataset": config["figures"]["tsne_dataset"],
            "seed": derive_seed(config["seed"], "tsne", wildcards.env)}


def trajectory_settings(wildcards):
    f, p = config["figures"], config["evaluation"]["prediction"]
    return {"env": wildcards.env, "dataset": f["trajectory_dataset"], "agents": f["trajectory_agents"],
            "steps": f["trajectory_steps"], "warmup": p["warmup"], "feedback": p["feedback"],
            "seed": derive_seed(config["seed"], "trajectory_figure", wildcards.env)}


def tsne_model(wildcards):
    return method_path(wildcards.env, config["figures"]["tsne_dataset"], "persim", "model.pt")


def trajectory_model(wildcards):
    return method_path(wildcards.env, config["figures"]["trajectory_dataset"], "persim", "model.pt")


def rollout_settings(wildcards):
    return {"env": wildcards.env, **config["evaluation"]["prediction"],
            "seed": derive_seed(config["seed"], "test_rollouts", wildcards.env)}


def prediction_settings(wildcards):
    p = config["evaluation"]["prediction"]
    return {"env": wildcards.env, "dataset": wildcards.behaviour, "method": wildcards.method,
            "method_label": SIMULATOR_METHODS[wildcards.method], "warmup": p["warmup"], "horizon": p["horizon"],
            "feedback": p["feedback"]}


def _reward_common(env):
    r = config["evaluation"]["reward"]
    return {"env": env, "n_seeds": r["n_seeds"], "n_episodes": r["n_episodes"], "mpc": mpc_settings(config, env),
            "max_episode_steps": config["episode_steps"][env], "device": config["device"],
            "terminal_reward": terminal_reward(env), "seed": derive_seed(config["seed"], "reward", env)}


def terminal_reward(env):
    """What the step that ends an episode scores in every return this run reports (None: the env's)."""
    return config["evaluation"].get("terminal_step_reward", {}).get(env)


def reward_settings(wildcards):
    return {**_reward_common(wildcards.env), "dataset": wildcards.behaviour, "method": wildcards.method,
            "method_label": SIMULATOR_METHODS[wildcards.method],
            "n_episodes": mpc_episodes(config, wildcards.method, wildcards.env)}


def true_mpc_settings(wildcards):
    common = _reward_common(wildcards.env)
    episodes = config["evaluation"]["reward"].get("true_env_episodes") or common["n_episodes"]
    return {**common, "n_episodes": episodes, "dataset": "", "method": "true_mpc", "method_label": TRUE_MPC_LABEL}


def true_mpc_reference_settings(wildcards):
    """The True env + MPC row at the reference budget (``evaluation.reward.reference_mpc``)."""
    mpc = reference_mpc_settings(config, wildcards.env)
    if mpc is None:
        raise ValueError(f"{OUT}/{wildcards.env}/true_mpc_reference/reward.csv: config key "
                         f"'evaluation.reward.reference_mpc.{wildcards.env}' is not set (no reference budget)")
    return {**true_mpc_settings(wildcards), "mpc": mpc, "method_label": TRUE_MPC_REFERENCE}


def reward_reference_settings(wildcards):
    """A simulator's MPC row at the reference budget (``evaluation.reward.reference_methods``): the
    settings of its row at the run's budget but the planner's, ``n_episodes`` (not ``method_episodes``)
    and the label "<method> (reference budget)"."""
    if wildcards.method not in reference_methods(config, wildcards.env):
        raise ValueError(f"{method_path(wildcards.env, wildcards.behaviour, wildcards.method, 'reward_reference.csv')}: "
                         f"'{wildcards.method}' is not in config key 'evaluation.reward.reference_methods' for "
                         f"{wildcards.env} (or 'evaluation.reward.reference_mpc.{wildcards.env}' is not set)")
    settings = reward_settings(wildcards)  # n_episodes: the run's (method_episodes would cost ~5x here)
    return {**settings, "mpc": reference_mpc_settings(config, wildcards.env),
            "method_label": reference_label(settings["method_label"]),
            "n_episodes": config["evaluation"]["reward"]["n_episodes"]}


# ---- training any registered method ------------------------------------------------------
def train_settings(wildcards):
    """Settings of one method's training job: its resolved config section, run facts, its seed."""
    method = getattr(wildcards, "method", None) or wildcards.pmethod
    spec, env = get_method(method), wildcards.env
    out = {"env": env, "behaviour": wildcards.behaviour, "method": method, "model": spec.settings(config, env),
           "device": config["device"], "max_episode_steps": config["episode_steps"][env],
           "seed": derive_seed(config["seed"], method, env, wildcards.behaviour)}
    k = int(getattr(wildcards, "k", 0) or 0)
    if k:  # a reward seed's own retrained simulator
        out["seed"], out["retrain_seed"] = derive_seed(out["seed"], "retrain", k), k
    if spec.uses_rank_cv:
        out["rank_source"] = config["persim"]["rank_source"]
    return out


def _policy_reward(env, behaviour, pmethod):
    common = _reward_common(env)
    common.pop("mpc")
    common.pop("device")  # policies act on the CPU
    return {**common, "n_episodes": config["evaluation"]["reward"]["policy_episodes"],
            "dataset": behaviour, "method": pmethod, "method_label": POLICY_METHODS[pmethod]}


def policy_reward_settings(wildcards):
    return _policy_reward(wildcards.env, wildcards.behaviour, wildcards.pmethod)


def policy_rewards_settings(wildcards):
    """Settings of the eval_policy_rewards rule, one entry per policy method of the run, in its order."""
    return {"env": wildcards.env, "dataset": wildcards.behaviour,
            "methods": {m: _policy_reward(wildcards.env, wildcards.behaviour, m) for m in POLICIES}}



def comparison_settings(wildcards):
    scarce = config.get("data_scarcity")
    return {"run_name": config["run_name"], "n_agents": config["agents"]["n_agents"], "n_boot": 2000, "alpha": 0.05,
            "seed": derive_seed(config["seed"], "bootstrap"), "envs": list(ENVS),
            "scarcity": {"n_agents": list(scarce["n_agents"]), "n_trials": scarce["n_trials"], "main_run_n": MAIN_N,
                         "main_run_retrained": retrain_per_seed()} if scarce else None,
            "scale_note": scale_note(methods=run_methods(config))}
