# Stage 4: tables beside the paper's numbers.


rule table5:
    input:
        agents=targets_agents(),
        datasets=targets_datasets(),
    output:
        csv=f"{OUT}/tables/table5.csv",
        tex=f"{OUT}/tables/table5.tex",
    params:
        scale_note=policy_scale_note(),
        code=code("table5.py"),
    log:
        f"{OUT}/logs/tables/table5.log",
    benchmark:
        f"{OUT}/benchmarks/tables/table5.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        ENV_FILE
    script:
        "../scripts/table5.py"


rule policy_returns:
    input:
        all_policy_stats,
    output:
        f"{OUT}/tables/policy_returns.csv",
    params:
        code=code("policy_returns.py"),
    log:
        f"{OUT}/logs/tables/policy_returns.log",
    benchmark:
        f"{OUT}/benchmarks/tables/policy_returns.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV_FILE
    script:
        "../scripts/policy_returns.py"


rule tables:
    input:
        targets_tables(),


rule prediction_tables:
    input:
        results=targets_predictions(),
    output:
        long=f"{OUT}/tables/prediction_long.csv",
        csv=[report(f"{OUT}/tables/table{PREDICTION_TABLE[e]}_{e}.csv", caption="../report/tables.rst", category="Tables")
             for e in ENVS],
        tex=[f"{OUT}/tables/table{PREDICTION_TABLE[e]}_{e}.tex" for e in ENVS],
        table1_csv=report(f"{OUT}/tables/table1.csv", caption="../report/tables.rst", category="Tables"),
        table1_tex=f"{OUT}/tables/table1.tex",
    params:
        n_agents=config["agents"]["n_agents"],
        scale_note=prediction_scale_note(),
        code=code("prediction_tables.py"),
    log:
        f"{OUT}/logs/tables/prediction_tables.log",
    benchmark:
        f"{OUT}/benchmarks/tables/prediction_tables.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV_FILE
    script:
        "../scripts/prediction_tables.py"


rule reward_tables:
    input:
        results=targets_rewards(),
    output:
        long=f"{OUT}/tables/reward_long.csv",
        csv=[report(f"{OUT}/tables/table{REWARD_TABLE[e]}_{e}.csv", caption="../report/tables.rst", category="Tables")
             for e in ENVS],
        tex=[f"{OUT}/tables/table{REWARD_TABLE[e]}_{e}.tex" for e in ENVS],
        table2_csv=report(f"{OUT}/tables/table2.csv", caption="../report/tables.rst", category="Tables"),
        table2_tex=f"{OUT}/tables/table2.tex",
    params:
        n_agents=config["agents"]["n_agents"],
        scale_note=scale_note(methods=POLICIES),
        reference_notes={e: reference_budget_note(config, [e]) for e in ENVS},
        code=code("reward_tables.py"),
    log:
        f"{OUT}/logs/tables/reward_tables.log",
    benchmark:
        f"{OUT}/benchmarks/tables/reward_tables.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV_FILE
    script:
        "../scripts/reward_tables.py"


rule comparison:
    input:
        prediction=targets_predictions(),
        reward=targets_rewards(),
        factor_r2=[f"{OUT}/figures/agent_factor_r2_{e}.csv" for e in ENVS],
        extended=extended_tables,
        policy_returns=f"{OUT}/tables/policy_returns.csv",
    output:
        cells=f"{OUT}/report/comparison.csv",
        claims=f"{OUT}/report/claims.csv",
        summary=f"{OUT}/report/comparison_summary.csv",
        intervals=f"{OUT}/report/reward_intervals.csv",
        markdown=f"{OUT}/report/comparison.md",
        html=report(f"{OUT}/report/comparison.html", caption="../report/comparison.rst", category="Comparison"),
    params:
        settings=comparison_settings,
        code=code("comparison.py"),
    log:
        f"{OUT}/logs/tables/comparison.log",
    benchmark:
        f"{OUT}/benchmarks/tables/comparison.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV_FILE
    script:
        "../scripts/comparison.py"
