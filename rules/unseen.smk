# Tables 12-13 (App. F.5): agents with no data. PerSim(p) = the trained PerSim with factors predicted
# from covariates (rule unseen_simulator); the baselines are the models and policies trained for the
# standard tables, evaluated on the unseen agents exactly as on the seen ones (the same scripts).
# Its params and input functions: rules/common_extended.smk.


rule unseen_agent_table:
    input:
        agents=agents_path("{env}"),
    output:
        f"{OUT}/{{env}}/unseen/agents.parquet",
    params:
        settings=lambda w: {"env": w.env, "covariates": UNSEEN["covariates"]},
        code=code("unseen_agents.py"),
    log:
        f"{OUT}/logs/{{env}}/unseen/agents.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/unseen/agents.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV_FILE
    script:
        "../scripts/unseen_agents.py"


use rule test_rollouts as test_rollouts_unseen with:
    input:
        policy=policy_path("{env}", "test"),
        agents=f"{OUT}/{{env}}/unseen/agents.parquet",
    output:
        rollouts=f"{OUT}/{{env}}/unseen/test_rollouts.npz",
        meta=f"{OUT}/{{env}}/unseen/test_rollouts.json",
    log:
        f"{OUT}/logs/{{env}}/unseen/test_rollouts.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/unseen/test_rollouts.tsv"


rule unseen_simulator:
    input:
        model=method_path("{env}", "{behaviour}", "persim", "model.pt"),
        agents=agents_path("{env}"),
        unseen=f"{OUT}/{{env}}/unseen/agents.parquet",
    output:
        model=f"{OUT}/{{env}}/unseen/{{behaviour}}/{{umethod}}/model.pt",
    wildcard_constraints:
        umethod=r"persim_p[0-9.]+",
    params:
        settings=unseen_simulator_settings,
        code=code("unseen_simulator.py"),
    log:
        f"{OUT}/logs/{{env}}/unseen/{{behaviour}}/{{umethod}}/model.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/unseen/{{behaviour}}/{{umethod}}/model.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        ENV_FILE
    script:
        "../scripts/unseen_simulator.py"


use rule eval_prediction as eval_prediction_unseen with:
    input:
        model=unseen_model,
        rollouts=f"{OUT}/{{env}}/unseen/test_rollouts.npz",
        agents=f"{OUT}/{{env}}/unseen/agents.parquet",
    output:
        f"{OUT}/{{env}}/unseen/{{behaviour}}/{{umethod}}/prediction.csv",
    params:
        settings=unseen_eval_settings("prediction"),
        code=lambda w: code("eval_prediction.py", unseen_label(w.umethod)[0]),
    log:
        f"{OUT}/logs/{{env}}/unseen/{{behaviour}}/{{umethod}}/prediction.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/unseen/{{behaviour}}/{{umethod}}/prediction.tsv"


use rule eval_reward as eval_reward_unseen with:
    input:
        model=unseen_model,
        agents=f"{OUT}/{{env}}/unseen/agents.parquet",
    output:
        f"{OUT}/{{env}}/unseen/{{behaviour}}/{{umethod}}/reward.csv",
    params:
        settings=unseen_eval_settings("reward"),
        code=lambda w: code("eval_reward.py", unseen_label(w.umethod)[0]),
    log:
        f"{OUT}/logs/{{env}}/unseen/{{behaviour}}/{{umethod}}/reward.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/unseen/{{behaviour}}/{{umethod}}/reward.tsv"


use rule eval_policy_reward as eval_policy_reward_unseen with:
    input:
        policy=method_path("{env}", "{behaviour}", "{pmethod}", "policy.pt"),
        agents=f"{OUT}/{{env}}/unseen/agents.parquet",
    output:
        f"{OUT}/{{env}}/unseen/{{behaviour}}/{{pmethod}}/reward.csv",
    log:
        f"{OUT}/logs/{{env}}/unseen/{{behaviour}}/{{pmethod}}/reward.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/unseen/{{behaviour}}/{{pmethod}}/reward.tsv"


rule unseen_tables:
    input:
        results=[p for p, _ in unseen_table_inputs()],
    output:
        csv=[report(f"{OUT}/tables/table{t}.csv", caption="../report/tables.rst", category="Tables") for t in (12, 13)],
        tex=[f"{OUT}/tables/table{t}.tex" for t in (12, 13)],
    params:
        settings={"tables": [12, 13], "inputs": [f for _, f in unseen_table_inputs()],
                  "scale_note": " ".join(n for n in [
                      scale_note(methods=UNSEEN["baselines"]), prediction_test_note(),
                      f"Unseen agents {UNSEEN['covariates']}; p = {UNSEEN['fractions']}."] if n)},
        code=code("extended_table.py"),
    log:
        f"{OUT}/logs/tables/unseen_tables.log",
    benchmark:
        f"{OUT}/benchmarks/tables/unseen_tables.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV_FILE
    script:
        "../scripts/extended_table.py"


rule unseen_agents:
    input:
        rules.unseen_tables.output.csv,
