# Table 3 (App. F.4): PerSim's synthetic trajectories added to each test agent's data for BCQ-A / CQL-A.
# The methods PerSim-BCQ-5 / PerSim-CQL-5 are registry rows (persim/methods.py, synthetic_from) trained
# by the generic train_policy_set rule, which adds this rule's output to their dataset.
# Its params and input functions: rules/common_extended.smk.


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
