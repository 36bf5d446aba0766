# Stage 4b: every method of the registry (persim/methods.py), trained on the same datasets.
# Simulators (PerSim, CaDM) write model.pt and go through both evaluations; policy sets (BCQ, CQL,
# MOReL; -P on all agents, -A one per test agent) write policy.pt and act directly in the true env.


rule train_simulator:
    input:
        dataset=dataset_path("{env}", "{behaviour}"),
        agents=agents_path("{env}"),
        rank_cv=rank_cv_input,
    output:
        model=method_path("{env}", "{behaviour}", "{method}", "model.pt"),
        history=method_path("{env}", "{behaviour}", "{method}", "history.csv"),
    params:
        settings=train_settings,
        code=lambda w: code("train_method.py", w.method),
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/{{method}}/train.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/{{method}}/train.tsv"
    threads: TRAIN_THREADS
    resources:
        mem_mb=8000,
        runtime=480,
    conda:
        ENV_FILE
    script:
        "../scripts/train_method.py"


# evaluation.reward.retrain_per_seed: reward seed k >= 1 plans on a simulator retrained from its own
# seed (the authors' trials); seed 0 plans on the dataset's model above.
use rule train_simulator as train_simulator_seed with:
    output:
        model=method_path("{env}", "{behaviour}", "{method}", "seed{k}/model.pt"),
        history=method_path("{env}", "{behaviour}", "{method}", "seed{k}/history.csv"),
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/{{method}}/seed{{k}}/train.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/{{method}}/seed{{k}}/train.tsv"


rule simulators:
    input:
        targets_simulators(),


rule train_policy_set:
    input:
        dataset=dataset_path("{env}", "{behaviour}"),
        agents=agents_path("{env}"),
        synthetic=synthetic_input,
    output:
        model=method_path("{env}", "{behaviour}", "{pmethod}", "policy.pt"),
    params:
        settings=train_settings,
        code=lambda w: code("train_method.py", w.pmethod),
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/{{pmethod}}/train.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/{{pmethod}}/train.tsv"
    threads: TRAIN_THREADS
    resources:
        mem_mb=8000,
        runtime=720,
    conda:
        ENV_FILE
    script:
        "../scripts/train_method.py"


# Every policy method of one (env, dataset) in one job: the job's start-up (Python, torch, d3rlpy:
# ~5-10 s) is paid once instead of once per method. eval_policy_reward below evaluates one method
# alone (Table 3's augmented policies; reused by Tables 12-16).
if POLICIES:  # a rule needs at least one output
    ruleorder: eval_policy_rewards > eval_policy_reward


    rule eval_policy_rewards:
        input:
            **{m: method_path("{env}", "{behaviour}", m, "policy.pt") for m in POLICIES},
            agents=agents_path("{env}"),
        output:
            **{m: method_path("{env}", "{behaviour}", m, "reward.csv") for m in POLICIES},
        params:
            settings=policy_rewards_settings,
            code=code("eval_policy_rewards.py", *POLICIES),
        log:
            f"{OUT}/logs/{{env}}/{{behaviour}}/policy_rewards.log",
        benchmark:
            f"{OUT}/benchmarks/{{env}}/{{behaviour}}/policy_rewards.tsv"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=120 * len(POLICIES),
        conda:
            ENV_FILE
        script:
            "../scripts/eval_policy_rewards.py"


rule eval_policy_reward:
    input:
        policy=method_path("{env}", "{behaviour}", "{pmethod}", "policy.pt"),
        agents=agents_path("{env}"),
    output:
        method_path("{env}", "{behaviour}", "{pmethod}", "reward.csv"),
    params:
        settings=policy_reward_settings,
        code=lambda w: code("eval_policy_reward.py", w.pmethod),
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
