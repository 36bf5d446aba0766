# persim-repro: reproduce PerSim (Agarwal et al., NeurIPS 2021) end to end.
#   snakemake --cores 2 --configfile config/quick.yaml          # reduced scale, every stage
#   snakemake datasets --cores 2 --configfile config/quick.yaml # one stage (target before --configfile)
# Stages (rules/*.smk, in DAG order): agents -> policies -> datasets -> simulators -> evaluations -> tables.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/common_extended.smk"
include: "rules/agents.smk"
include: "rules/policies.smk"
include: "rules/datasets.smk"
include: "rules/persim.smk"
include: "rules/methods.smk"
include: "rules/evaluation.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"
include: "rules/augmentation.smk"
include: "rules/unseen.smk"
include: "rules/scarcity.smk"


# With PERSIM_JOB_SERVER=1 (make quick / make smoke) the jobs ran in forks of a local server
# (persim/jobserver.py): stop it with the run instead of letting it idle out.
onsuccess:
    stop_job_server(workflow.basedir)


onerror:
    stop_job_server(workflow.basedir)


rule all:
    default_target: True
    input:
        targets_datasets(),
        targets_tables(),
        targets_figures(),
        targets_rank_cv(),
        rules.augmentation.input,
        rules.unseen_agents.input if unseen_agents_run() else [],
        rules.data_scarcity.input,
