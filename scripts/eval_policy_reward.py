"""Rule `eval_policy_reward`: a policy method (BCQ, CQL, MOReL; -P or -A) acting in the true env.

No MPC: the learned policy acts directly, greedy. Per test agent and seed, ``n_episodes`` episodes
(paper: 100) run in lock step; the cell is mean ± std over the seeds' mean returns.
"""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.envs import get_spec
from persim.evaluation.reward import policy_reward_rows
from persim.methods import load_policy_set
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    agents = pd.read_parquet(snakemake.input.agents).query("test_agent > 0")  # noqa: F821
    policies = load_policy_set(s["method"], snakemake.input.policy)  # noqa: F821
    rows = policy_reward_rows(policies, agents, get_spec(s["env"]), s, run.logger)
    pd.DataFrame(rows).to_csv(snakemake.output[0], index=False)  # noqa: F821
    write_sidecar(snakemake.output[0], run.provenance())  # noqa: F821
