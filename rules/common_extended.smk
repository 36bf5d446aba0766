# Paths, params and inputs of the extended experiments' rules (Tables 3, 12-16), kept apart from the rules
# themselves (Snakemake's lint: functions in a common module). Included after rules/common.smk.
from persim.reporting.labels import SCARCITY_TABLE
from persim.reporting.scope import scarcity_note, trained_trials, unused_trials


# ---- Table 3: synthetic trajectories (rules/augmentation.smk) ----------------------------------
AUG = config["augmentation"]


def synthetic_settings(wildcards):
    env = wildcards.env
    mpc = augmentation_mpc_settings(config, env)
    return {"env": env, "behaviour": wildcards.behaviour, "simulator": wildcards.method,
            "n_trajectories": AUG["n_trajectories"], "mpc": mpc, "max_episode_steps": config["episode_steps"][env],
            "seed": derive_seed(config["seed"], "synthetic", env, wildcards.behaviour, wildcards.method)}


def table3_inputs():
    """(path, facts) of every Table-3 cell file: the BCQ/CQL -P/-A runs of Tables 9-11 on the
    augmentation dataset (reused, not retrained) and the augmented methods."""
    return [(method_path(e, AUG["dataset"], m, "reward.csv"), {"table": 3, "n_train_agents": PAPER_N_AGENTS})
            for e in ENVS for m in table3_methods(AUG["methods"])]


# ---- Tables 12-13: unseen agents (rules/unseen.smk) -----------------------------------------------
UNSEEN = config["unseen_agents"]
UNSEEN_ENV = UNSEEN["env"]


wildcard_constraints:
    umethod=r"persim_p[0-9.]+|" + "|".join(SIMULATOR_METHODS),


def unseen_dir(env=UNSEEN_ENV):
    return f"{OUT}/{env}/unseen"


def persim_p_names():
    return [f"persim_p{p}" for p in UNSEEN["fractions"]]


def fraction_of(umethod):
    """p of a PerSim(p) wildcard value (persim_p0.25 -> 0.25); None for a baseline's name."""
    return float(umethod[len("persim_p"):]) if umethod.startswith("persim_p") else None


def unseen_label(umethod):
    """(loader method, table label): persim_p0.5 -> ("persim", "PerSim(p=0.5)")."""
    p = fraction_of(umethod)
    return ("persim", f"PerSim(p={p})") if p is not None else (umethod, METHOD_LABELS[umethod])


def unseen_model(wildcards):
    if fraction_of(wildcards.umethod) is not None:
        return f"{unseen_dir(wildcards.env)}/{wildcards.behaviour}/{wildcards.umethod}/model.pt"
    return method_path(wildcards.env, wildcards.behaviour, wildcards.umethod, "model.pt")


def unseen_eval_settings(kind):
    def settings(wildcards):
        method, label = unseen_label(wildcards.umethod)
        base = (prediction_settings if kind == "prediction" else reward_settings)(
            Namespace(env=wildcards.env, behaviour=wildcards.behaviour, method=method))
        return {**base, "method": method, "method_label": label, "agents": "unseen"}
    return settings


def unseen_simulator_settings(wildcards):
    return {"env": wildcards.env, "dataset": wildcards.behaviour, "p": fraction_of(wildcards.umethod), "factor_map": UNSEEN["factor_map"],
            "seed": derive_seed(config["seed"], "unseen", wildcards.env, wildcards.behaviour, wildcards.umethod)}


def unseen_table_inputs():
    """(path, facts) of every cell file of Tables 12 (prediction) and 13 (reward)."""
    sims = persim_p_names() + [m for m in UNSEEN["baselines"] if m in SIMULATOR_METHODS]
    pols = [m for m in UNSEEN["baselines"] if m in POLICY_METHODS]
    facts = lambda t: {"table": t, "n_train_agents": PAPER_N_AGENTS}  # noqa: E731
    out = [(f"{unseen_dir()}/{b}/{m}/prediction.csv", facts(12)) for b in UNSEEN["datasets"] for m in sims]
    out += [(f"{unseen_dir()}/{b}/{m}/reward.csv", facts(13)) for b in UNSEEN["datasets"] for m in sims + pols]
    return out


# ---- Tables 14-16: data scarcity (rules/scarcity.smk) ---------------------------------------------
SCARCE = config["data_scarcity"]


wildcard_constraints:
    n=r"\d+",
    trial=r"\d+",


def trial_dir(env, n, trial):
    return f"{OUT}/{env}/scarcity/n{n}_t{trial}"


TRIAL = trial_dir("{env}", "{n}", "{trial}")

_UNUSED = unused_trials([str(d) for d in Path(OUT).glob("*/scarcity/n*_t*")], SCARCE["n_agents"], SCARCE["n_trials"],
                        MAIN_N)
if _UNUSED:  # e.g. a plain `make quick` after one with config/overlays/scarcity-all-n.yaml
    print(f"note: {OUT} holds Tables 14-16 trials ({', '.join(_UNUSED)}) that this config's data_scarcity "
          "(n_agents, n_trials) does not use: Tables 14-16 are written without them (their files stay; run "
          "with the overlay that used them, e.g. OVERLAY=config/overlays/scarcity-all-n.yaml, to include them "
          "again)", file=sys.stderr)


def trial_seed(w, *what):
    return derive_seed(config["seed"], "scarcity", w.env, int(w.n), int(w.trial), *what)


def _trial(settings_fn, *what):
    """A standard params function with the trial's seed."""
    def settings(wildcards):
        return {**settings_fn(wildcards), "seed": trial_seed(wildcards, *what), "trial": int(wildcards.trial)}
    return settings


def trial_agents_settings(wildcards):
    """The agents table of a trial: N agents, the trial's seed."""
    return {**_trial(agents_settings, "agents")(wildcards), "n_agents": int(wildcards.n)}


def scarcity_inputs():
    """(path, facts) of every cell file of Tables 14-16: each env x N x trial x method."""
    out = []
    for env in (e for e in ENVS if e in SCARCITY_TABLE):
        ds = SCARCE["datasets"][env]
        for n in SCARCE["n_agents"]:
            for k in trained_trials(n, SCARCE["n_trials"], MAIN_N):
                facts = {"table": SCARCITY_TABLE[env], "n_train_agents": n, "trial": k}
                out += [(f"{trial_dir(env, n, k)}/{ds}/{m}/reward.csv", facts) for m in SCARCE["methods"]]
        if MAIN_N is not None:
            facts = {"table": SCARCITY_TABLE[env], "n_train_agents": MAIN_N, "trial": 0}
            out += [(method_path(env, ds, m, "reward.csv"), facts) for m in SCARCE["methods"]]
    return out
