# Stage 1: the agents of each env (Table 4): test agents + uniform draws, nearest logging policy.


rule agents:
    output:
        agents_path("{env}"),
    params:
        settings=agents_settings,
        code=code("make_agents.py"),
    log:
        f"{OUT}/logs/{{env}}/agents.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/agents.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV_FILE
    script:
        "../scripts/make_agents.py"


rule agent_tables:
    input:
        targets_agents(),
