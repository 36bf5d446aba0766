"""Rule `unseen_simulator`: PerSim(p) for the unseen agents (Tables 12-13, App. F.5).

An MLP maps covariates to the trained PerSim's agent factors u, fitted on the covariates of a random
share p of the training agents; the unseen agents' predicted factors join the agent table of a copy
of the simulator (persim.models.unseen). The log reports the map's error on the training agents it
did not see against the error of the mean factor.
"""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import numpy as np
import pandas as pd

from persim.envs import get_spec
from persim.methods import load_simulator
from persim.models.unseen import FactorMapConfig, fit_factor_map, known_agents, simulator_for
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s, inp, out = run.settings, snakemake.input, snakemake.output  # noqa: F821
    cols = list(get_spec(s["env"]).covariates)
    sim = load_simulator("persim", inp.model)
    agents = pd.read_parquet(inp.agents).sort_values("agent_id")
    unseen = pd.read_parquet(inp.unseen).sort_values("agent_id")
    u = sim.agent_factors()  # [M, N, r]
    known = known_agents(len(agents), s["p"], s["seed"])
    cov = agents[cols].to_numpy()
    fmap = fit_factor_map(cov[known], u[:, known], FactorMapConfig(**s["factor_map"]), seed=s["seed"])
    held = np.setdiff1d(np.arange(len(agents)), known)
    if len(held):
        err = float(np.mean((fmap(cov[held]) - u[:, held]) ** 2))
        base = float(np.mean((u[:, known].mean(1, keepdims=True) - u[:, held]) ** 2))
        run.logger.info("p=%g: map fitted on %d of %d training agents; on the other %d, MSE of u %.3g "
                        "(mean factor: %.3g)", s["p"], len(known), len(agents), len(held), err, base)
    new, ids = simulator_for(sim, fmap, unseen[cols].to_numpy())
    if ids.tolist() != unseen["agent_id"].tolist():
        raise ValueError(f"{inp.unseen}: unseen agent ids {unseen['agent_id'].tolist()} are not the ids after the "
                         f"{len(agents)} training agents ({ids.tolist()})")
    prov = run.provenance(fraction_p=s["p"], known_agents=len(known))
    new.meta["provenance"] = prov
    new.save(out.model)
    write_sidecar(out.model, prov)
