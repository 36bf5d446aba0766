# Stage 5: evaluations. Prediction (§5.2): every simulator on the same true test-policy rollouts.


rule test_rollouts:
    input:
        policy=policy_path("{env}", "test"),
        agents=agents_path("{env}"),
    output:
        rollouts=f"{OUT}/{{env}}/test_rollouts.npz",
        meta=f"{OUT}/{{env}}/test_rollouts.json",
    params:
        settings=rollout_settings,
        code=code("test_rollouts.py"),
    log:
        f"{OUT}/logs/{{env}}/test_rollouts.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/test_rollouts.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        ENV_FILE
    script:
        "../scripts/test_rollouts.py"


rule eval_prediction:
    input:
        model=method_path("{env}", "{behaviour}", "{method}", "model.pt"),
        rollouts=f"{OUT}/{{env}}/test_rollouts.npz",
        agents=agents_path("{env}"),
    output:
        method_path("{env}", "{behaviour}", "{method}", "prediction.csv"),
    params:
        settings=prediction_settings,
        code=lambda w: code("eval_prediction.py", w.method),
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/{{method}}/prediction.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/{{method}}/prediction.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV_FILE
    script:
        "../scripts/eval_prediction.py"


rule predictions:
    input:
        targets_predictions(),


rule eval_reward:
    input:
        model=seed_models,
        agents=agents_path("{env}"),
    output:
        method_path("{env}", "{behaviour}", "{method}", "reward.csv"),
    params:
        settings=reward_settings,
        code=lambda w: code("eval_reward.py", w.method),
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/{{method}}/reward.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/{{method}}/reward.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=600,
    conda:
        ENV_FILE
    script:
        "../scripts/eval_reward.py"


use rule eval_reward as eval_reward_reference with:
    output:
        method_path("{env}", "{behaviour}", "{method}", "reward_reference.csv"),
    params:
        settings=reward_reference_settings,
        code=lambda w: code("eval_reward.py", w.method),
    log:
        f"{OUT}/logs/{{env}}/{{behaviour}}/{{method}}/reward_reference.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/{{behaviour}}/{{method}}/reward_reference.tsv"


rule eval_reward_true_env:
    input:
        agents=agents_path("{env}"),
    output:
        f"{OUT}/{{env}}/true_mpc/reward.csv",
    params:
        settings=true_mpc_settings,
        code=code("eval_reward.py"),
    log:
        f"{OUT}/logs/{{env}}/true_mpc/reward.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/true_mpc/reward.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=600,
    conda:
        ENV_FILE
    script:
        "../scripts/eval_reward.py"


use rule eval_reward_true_env as eval_reward_true_env_reference with:
    output:
        f"{OUT}/{{env}}/true_mpc_reference/reward.csv",
    params:
        settings=true_mpc_reference_settings,
        code=code("eval_reward.py"),
    log:
        f"{OUT}/logs/{{env}}/true_mpc_reference/reward.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/true_mpc_reference/reward.tsv"


rule rewards:
    input:
        targets_rewards(),
