# Stage 3: offline datasets, one trajectory per agent, for each behaviour (App. E.2).


rule dataset:
    input:
        agents=agents_path("{env}"),
        policies=dataset_policy_inputs,
    output:
        dataset_path("{env}", "{behaviour}"),
    params:
        settings=dataset_settings,
        code=code("generate_dataset.py"),
    log:
        f"{OUT}/logs/{{env}}/datasets/{{behaviour}}.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/datasets/{{behaviour}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        ENV_FILE
    script:
        "../scripts/generate_dataset.py"


rule datasets:
    input:
        targets_datasets(),
