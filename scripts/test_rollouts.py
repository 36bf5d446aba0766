"""Rule `test_rollouts`: true rollouts of the test policy for every test agent of one env."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import json

import pandas as pd

from persim.envs import get_spec
from persim.evaluation.prediction import collect_rollouts, save_test_rollouts
from persim.policies import load_policy
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    spec = get_spec(s["env"])
    act = load_policy(snakemake.input.policy)  # noqa: F821
    agents = pd.read_parquet(snakemake.input.agents).query("test_agent > 0")  # noqa: F821
    rollouts = {}
    for _, row in agents.iterrows():
        cov = {c: float(row[c]) for c in spec.covariates}
        ro = collect_rollouts(s["env"], cov, act, s["n_rollouts"], s["warmup"] + s["horizon"], s["seed"] + int(row["test_agent"]))
        aid = int(row["agent_id"])  # iterrows upcasts a numeric-only row to float
        rollouts[aid] = ro
        run.logger.info("agent %d %s: %d rollouts of %d steps, %d terminated within them", row["test_agent"], cov,
                        *ro.actions.shape[:2], ro.terminated.any(1).sum())
    save_test_rollouts(snakemake.output.rollouts, rollouts)  # noqa: F821
    with open(snakemake.output.meta, "w") as fh:  # noqa: F821
        json.dump(run.provenance(), fh, indent=2, default=str)
