"""Rule `figure_tsne`: t-SNE of the learned agent factors, coloured by each covariate (Fig. 1/5)."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.methods import load_simulator
from persim.provenance import write_sidecar
from persim.envs import get_spec
from persim.reporting.claims import factor_regression_r2
from persim.reporting.figures import plot_agent_tsne, tsne_embedding
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    sim = load_simulator("persim", snakemake.input.model)  # noqa: F821
    agents = pd.read_parquet(snakemake.input.agents)  # noqa: F821
    factors = sim.agent_factors().mean(0)  # [N, r], ensemble mean of u
    emb = tsne_embedding(factors, seed=s["seed"])
    plot_agent_tsne(s["env"], emb, agents, snakemake.output[0],  # noqa: F821
                    f"PerSim agent factors (rank {factors.shape[1]}), {s['dataset']} dataset, {len(agents)} agents")
    write_sidecar(snakemake.output[0], run.provenance())  # noqa: F821
    # claim (iv): how well u predicts each covariate on held-out agents (a number beside the picture)
    r2 = factor_regression_r2(factors, agents[list(get_spec(s["env"]).covariates)], seed=s["seed"])
    r2.insert(0, "env", s["env"])
    r2.insert(1, "dataset", s["dataset"])
    run.logger.info("held-out R² of covariates from u:\n%s", r2.to_string(index=False))
    r2.to_csv(snakemake.output.r2, index=False)  # noqa: F821
    write_sidecar(snakemake.output.r2, run.provenance())  # noqa: F821
