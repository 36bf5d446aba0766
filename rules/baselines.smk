# Stage 4b: the paper's baselines, trained on the same datasets as PerSim (§5.1, App. E).
# Simulators (CaDM) write model.pt and go through both evaluations; policies (BCQ, CQL, MOReL;
# -P on all agents, -A one per test agent) write policy.pt and act directly in the true env.


rule train_cadm:
    input:
        dataset=dataset_path("{env}", "{behaviour}"),
    output:
        model=method_path("{env}", "{behaviour}", "{cadm}", "model.pt"),
        history=method_path("{env}", "{behaviour}", "{cadm}", "history.csv"),
    params:
        settings=cadm_settings,
        code=lambda w: CODE["cadm"][w.cadm],
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/{{cadm}}/train.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/{{cadm}}/train.tsv"
    threads: TRAIN_THREADS
    resources:
        mem_mb=8000,
        runtime=480,
    conda:
        ENV_FILE
    script:
        "../scripts/train_cadm.py"


rule train_offline_rl:
    input:
        dataset=dataset_path("{env}", "{behaviour}"),
        agents=agents_path("{env}"),
    output:
        method_path("{env}", "{behaviour}", "{orl}", "policy.pt"),
    params:
        settings=offline_rl_settings,
        code=lambda w: CODE["offline_rl"][split_policy_method(w.orl)[0]],
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/{{orl}}/train.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/{{orl}}/train.tsv"
    threads: TRAIN_THREADS
    resources:
        mem_mb=8000,
        runtime=720,
    conda:
        ENV_FILE
    script:
        "../scripts/train_policy_baseline.py"


rule train_morel:
    input:
        dataset=dataset_path("{env}", "{behaviour}"),
        agents=agents_path("{env}"),
    output:
        method_path("{env}", "{behaviour}", "{morel}", "policy.pt"),
    params:
        settings=morel_settings,
        code=CODE["morel"],
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/{{morel}}/train.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/{{morel}}/train.tsv"
    threads: TRAIN_THREADS
    resources:
        mem_mb=8000,
        runtime=720,
    conda:
        ENV_FILE
    script:
        "../scripts/train_policy_baseline.py"


rule eval_policy_reward:
    input:
        policy=method_path("{env}", "{behaviour}", "{pmethod}", "policy.pt"),
        agents=agents_path("{env}"),
    output:
        method_path("{env}", "{behaviour}", "{pmethod}", "reward.csv"),
    params:
        settings=policy_reward_settings,
        code=lambda w: CODE["policy_reward"][split_policy_method(w.pmethod)[0]],
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/{{pmethod}}/reward.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/{{pmethod}}/reward.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        ENV_FILE
    script:
        "../scripts/eval_policy_reward.py"


rule baselines:
    input:
        targets_baseline_policies(),
