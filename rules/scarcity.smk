# Tables 14-16 (App. F.6): fewer training agents. For each N and trial, a fresh agents table (the five
# test agents + N - 5 re-sampled ones, the trial's own seed), its dataset (the run's logging policies),
# the methods trained on it and evaluated on the five test agents. The stages are the standard rules
# with the trial's paths and seeds (`use rule ... with`); cells are mean ± std across trials. With
# data_scarcity.main_run_trial (MAIN_N, rules/common.smk) the main run's results are one more trial, at
# that N: no job of its own (trial 0 of that N where data_scarcity.n_agents lists it too).
# Its params and input functions: rules/common_extended.smk.


use rule agents as scarcity_agents with:
    output:
        f"{TRIAL}/agents.parquet",
    params:
        settings=trial_agents_settings,
        code=code("make_agents.py"),
    log:
        f"{OUT}/logs/{{env}}/scarcity/n{{n}}_t{{trial}}/agents.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/scarcity/n{{n}}_t{{trial}}/agents.tsv"


use rule dataset as scarcity_dataset with:
    input:
        agents=f"{TRIAL}/agents.parquet",
        policies=dataset_policy_inputs,
    output:
        f"{TRIAL}/datasets/{{behaviour}}.parquet",
    params:
        settings=_trial(dataset_settings, "dataset"),
        code=code("generate_dataset.py"),
    log:
        f"{OUT}/logs/{{env}}/scarcity/n{{n}}_t{{trial}}/datasets/{{behaviour}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/scarcity/n{{n}}_t{{trial}}/datasets/{{behaviour}}.tsv"


use rule train_simulator as scarcity_train_simulator with:
    input:
        dataset=f"{TRIAL}/datasets/{{behaviour}}.parquet",
        agents=f"{TRIAL}/agents.parquet",
        rank_cv=rank_cv_input,
    output:
        model=f"{TRIAL}/{{behaviour}}/{{method}}/model.pt",
        history=f"{TRIAL}/{{behaviour}}/{{method}}/history.csv",
    params:
        settings=_trial(train_settings, "train"),
        code=lambda w: code("train_method.py", w.method),
    log:
        f"{OUT}/logs/{{env}}/scarcity/n{{n}}_t{{trial}}/{{behaviour}}/{{method}}/train.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/scarcity/n{{n}}_t{{trial}}/{{behaviour}}/{{method}}/train.tsv"


use rule train_policy_set as scarcity_train_policy_set with:
    input:
        dataset=f"{TRIAL}/datasets/{{behaviour}}.parquet",
        agents=f"{TRIAL}/agents.parquet",
        synthetic=[],
    output:
        model=f"{TRIAL}/{{behaviour}}/{{pmethod}}/policy.pt",
    params:
        settings=_trial(train_settings, "train"),
        code=lambda w: code("train_method.py", w.pmethod),
    log:
        f"{OUT}/logs/{{env}}/scarcity/n{{n}}_t{{trial}}/{{behaviour}}/{{pmethod}}/train.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/scarcity/n{{n}}_t{{trial}}/{{behaviour}}/{{pmethod}}/train.tsv"


use rule eval_reward as scarcity_eval_reward with:
    input:
        model=f"{TRIAL}/{{behaviour}}/{{method}}/model.pt",
        agents=f"{TRIAL}/agents.parquet",
    output:
        f"{TRIAL}/{{behaviour}}/{{method}}/reward.csv",
    params:
        settings=_trial(reward_settings, "reward"),
        code=lambda w: code("eval_reward.py", w.method),
    log:
        f"{OUT}/logs/{{env}}/scarcity/n{{n}}_t{{trial}}/{{behaviour}}/{{method}}/reward.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/scarcity/n{{n}}_t{{trial}}/{{behaviour}}/{{method}}/reward.tsv"


use rule eval_policy_reward as scarcity_eval_policy_reward with:
    input:
        policy=f"{TRIAL}/{{behaviour}}/{{pmethod}}/policy.pt",
        agents=f"{TRIAL}/agents.parquet",
    output:
        f"{TRIAL}/{{behaviour}}/{{pmethod}}/reward.csv",
    params:
        settings=_trial(policy_reward_settings, "reward"),
        code=lambda w: code("eval_policy_reward.py", w.pmethod),
    log:
        f"{OUT}/logs/{{env}}/scarcity/n{{n}}_t{{trial}}/{{behaviour}}/{{pmethod}}/reward.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/scarcity/n{{n}}_t{{trial}}/{{behaviour}}/{{pmethod}}/reward.tsv"


rule scarcity_tables:
    input:
        results=[p for p, _ in scarcity_inputs()],
    output:
        csv=[report(f"{OUT}/tables/table{SCARCITY_TABLE[e]}.csv", caption="../report/tables.rst", category="Tables")
             for e in ENVS if e in SCARCITY_TABLE],
        tex=[f"{OUT}/tables/table{SCARCITY_TABLE[e]}.tex" for e in ENVS if e in SCARCITY_TABLE],
    params:
        settings={"tables": [SCARCITY_TABLE[e] for e in ENVS if e in SCARCITY_TABLE],
                  "inputs": [f for _, f in scarcity_inputs()], "across_trials": True,
                  "scale_note": scale_note(methods=SCARCE["methods"], trials=True) + " "
                                + scarcity_note(SCARCE["n_agents"], SCARCE["n_trials"], MAIN_N, retrain_per_seed())},
        code=code("extended_table.py"),
    log:
        f"{OUT}/logs/tables/scarcity_tables.log",
    benchmark:
        f"{OUT}/benchmarks/tables/scarcity_tables.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV_FILE
    script:
        "../scripts/extended_table.py"


rule data_scarcity:
    input:
        rules.scarcity_tables.output.csv,
