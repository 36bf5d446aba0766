"""Rule `eval_policy_rewards`: every policy method of one (env, dataset) acting in the true env.

The same evaluation as rule `eval_policy_reward` (scripts/eval_policy_reward.py), one method after
the other in one process; each method's rows go to its own reward.csv with its own provenance.
"""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.envs import get_spec
from persim.evaluation.reward import policy_reward_rows
from persim.methods import load_policy_set
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    agents = pd.read_parquet(snakemake.input.agents).query("test_agent > 0")  # noqa: F821
    spec = get_spec(run.settings["env"])
    for method, s in run.settings["methods"].items():
        run.logger.info("%s: evaluating", s["method_label"])
        policies = load_policy_set(method, snakemake.input[method])  # noqa: F821
        rows = policy_reward_rows(policies, agents, spec, s, run.logger)
        out = snakemake.output[method]  # noqa: F821
        pd.DataFrame(rows).to_csv(out, index=False)
        write_sidecar(out, run.provenance(settings=s, outputs=[out]))
