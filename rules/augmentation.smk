# Table 3 (App. F.4): PerSim's synthetic trajectories added to each test agent's data for BCQ-A / CQL-A.
# The methods PerSim-BCQ-5 / PerSim-CQL-5 are registry rows (persim/methods.py, synthetic_from) trained
# by the generic train_policy_set rule, which adds this rule's output to their dataset.
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


rule synthetic_trajectories:
    input:
        model=method_path("{env}", "{behaviour}", "{method}", "model.pt"),
        agents=agents_path("{env}"),
    output:
        method_path("{env}", "{behaviour}", "{method}", "synthetic.parquet"),
    params:
        settings=synthetic_settings,
        code=lambda w: code("synthetic_trajectories.py", w.method),
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/{{method}}/synthetic.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/{{method}}/synthetic.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        ENV_FILE
    script:
        "../scripts/synthetic_trajectories.py"


rule table3:
    input:
        results=[p for p, _ in table3_inputs()],
    output:
        csv=[report(f"{OUT}/tables/table3.csv", caption="../report/tables.rst", category="Tables")],
        tex=[f"{OUT}/tables/table3.tex"],
    params:
        settings={"tables": [3], "inputs": [f for _, f in table3_inputs()],
                  "scale_note": scale_note(AUG["dataset"], table3_methods(AUG["methods"]),
                                             augmentation_budget_note(config, ENVS))},
        code=code("extended_table.py"),
    log:
        f"{OUT}/logs/tables/table3.log",
    benchmark:
        f"{OUT}/benchmarks/tables/table3.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV_FILE
    script:
        "../scripts/extended_table.py"


rule augmentation:
    input:
        f"{OUT}/tables/table3.csv",
