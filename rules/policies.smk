# Stage 2: online logging policies (one per policy-training agent) and one test policy per env.


rule train_policy:
    output:
        policy=policy_path("{env}", "{policy}"),
        stats=policy_path("{env}", "{policy}", "json"),
    params:
        settings=policy_settings,
        code=code("train_policy.py"),
    log:
        f"{OUT}/logs/{{env}}/policies/{{policy}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/policies/{{policy}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    conda:
        ENV_FILE
    script:
        "../scripts/train_policy.py"


rule policies:
    input:
        targets_policies(),
