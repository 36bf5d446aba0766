"""Rule `unseen_agent_table`: the unseen agents of Tables 12-13 as an agents table (no data of their own).

Agent k (1-5) gets id N + k - 1 (N = training agents), the id its factor takes in the PerSim(p)
simulators (persim.models.unseen.simulator_for); ``test_agent`` = k as in the standard tables.
"""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.envs import get_spec
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s, inp, out = run.settings, snakemake.input, snakemake.output  # noqa: F821
    spec, n = get_spec(s["env"]), len(pd.read_parquet(inp.agents))
    rows = []
    for k, cov in enumerate(s["covariates"]):
        if set(cov) != set(spec.covariates):
            raise ValueError(f"config key 'unseen_agents.covariates.{k}': {cov} must give exactly {s['env']}'s "
                             f"covariates {list(spec.covariates)}")
        rows.append({"agent_id": n + k, "test_agent": k + 1, **{c: float(cov[c]) for c in spec.covariates}})
    table = pd.DataFrame(rows)
    run.logger.info("unseen agents of %s (ids after the %d training agents):\n%s", s["env"], n, table.to_string(index=False))
    table.to_parquet(out[0], index=False)
    write_sidecar(out[0], run.provenance())
