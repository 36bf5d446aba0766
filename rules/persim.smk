# Stage 4: PerSim's rank, chosen by hold-out validation (App. D.1); PerSim itself trains as any
# simulator method (rules/methods.smk), taking this rank when `persim.rank_source: cv`.


rule rank_cv:
    input:
        dataset=rank_cv_dataset,
        agents=agents_path("{env}"),
    output:
        f"{OUT}/{{env}}/rank_cv.csv",
    params:
        settings=rank_cv_settings,
        code=code("rank_cv.py", "persim"),
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
