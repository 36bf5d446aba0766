# Figures: t-SNE of the learned agent factors (Fig. 1/5), predicted vs true trajectories (Fig. 2/4).


rule figure_tsne:
    input:
        model=tsne_model,
        agents=agents_path("{env}"),
    output:
        report(f"{OUT}/figures/fig5_tsne_{{env}}.png", caption="../report/fig_tsne.rst", category="Figures"),
        r2=f"{OUT}/figures/agent_factor_r2_{{env}}.csv",
    params:
        settings=tsne_settings,
        code=code("figure_tsne.py", "persim"),
    log:
        f"{OUT}/logs/{{env}}/figure_tsne.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/figure_tsne.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV_FILE
    script:
        "../scripts/figure_tsne.py"


rule figure_trajectories:
    input:
        model=trajectory_model,
        policy=policy_path("{env}", "test"),
        agents=agents_path("{env}"),
    output:
        report(f"{OUT}/figures/fig4_trajectories_{{env}}.png", caption="../report/fig_trajectories.rst",
               category="Figures"),
    params:
        settings=trajectory_settings,
        code=code("figure_trajectories.py", "persim"),
    log:
        f"{OUT}/logs/{{env}}/figure_trajectories.log",
    benchmark:
        f"{OUT}/benchmarks/{{env}}/figure_trajectories.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV_FILE
    script:
        "../scripts/figure_trajectories.py"


rule figures:
    input:
        targets_figures(),


rule rank_selection:
    input:
        targets_rank_cv(),
