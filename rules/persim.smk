# Stage 4: PerSim personalized simulators, one ensemble per env x dataset (§4, App. D.1).


rule rank_cv:
    input:
        dataset=rank_cv_dataset,
        agents=agents_path("{env}"),
    output:
        f"{OUT}/{{env}}/rank_cv.csv",
    params:
        settings=rank_cv_settings,
        code=CODE["rank_cv"],
    log:
        f"{OUT}/logs/{{env}}/rank_cv.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/rank_cv.tsv"
    threads: TRAIN_THREADS
    resources:
        mem_mb=8000,
        runtime=480,
    conda:
        ENV_FILE
    script:
        "../scripts/rank_cv.py"


rule train_persim:
    input:
        dataset=dataset_path("{env}", "{behaviour}"),
        agents=agents_path("{env}"),
        rank_cv=persim_rank_input,
    output:
        model=method_path("{env}", "{behaviour}", "persim", "model.pt"),
        history=method_path("{env}", "{behaviour}", "persim", "history.csv"),
    params:
        settings=persim_settings,
        code=CODE["persim"],
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/persim/train.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/persim/train.tsv"
    threads: TRAIN_THREADS
    resources:
        mem_mb=8000,
        runtime=240,
    conda:
        ENV_FILE
    script:
        "../scripts/train_persim.py"


rule simulators:
    input:
        targets_simulators(),
