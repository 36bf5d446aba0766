"""Rule `eval_reward`: MPC in the true env for every test agent and seed (one method, one dataset).

Method ``true_mpc`` plans on the batched true dynamics (no data); any simulator method plans on its
learned ensemble.
"""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.envs import get_spec
from persim.evaluation.history import context_length, planning_members
from persim.evaluation.planners import make_planner
from persim.evaluation.reward import (agent_covariates, evaluate_mpc, model_step_factory, reward_row,
                                      true_step_factory)
from persim.methods import load_simulator
from persim.provenance import write_sidecar
from persim.seeding import derive_seed
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    spec = get_spec(s["env"])
    agents = pd.read_parquet(snakemake.input.agents).query("test_agent > 0")  # noqa: F821
    sim = None if s["method"] == "true_mpc" else load_simulator(s["method"], snakemake.input.model)  # noqa: F821
    n_members = 1 if sim is None else planning_members(sim)
    k_hist = 0 if sim is None else context_length(sim)
    n_cand = s["mpc"]["n_candidates"]
    rows = []
    for _, row in agents.iterrows():
        cov = agent_covariates(row, spec)
        aid, seed_returns = int(row["agent_id"]), []
        for k in range(s["n_seeds"]):
            seed = derive_seed(s["seed"], "reward", aid, k)
            planner = make_planner(s["env"], s["mpc"], n_members, seed)
            factory = (true_step_factory(s["env"], cov, n_cand) if sim is None
                       else model_step_factory(sim, aid, n_cand, seed=seed))
            returns = evaluate_mpc(s["env"], cov, planner, factory, s["n_episodes"], seed, s["max_episode_steps"],
                                   label=f"agent {row['test_agent']} seed {k}", history_length=k_hist)
            seed_returns.append(float(returns.mean()))
            run.logger.info("agent %d seed %d: mean return %.2f over %d episodes", row["test_agent"], k,
                            returns.mean(), len(returns))
        rows.append(reward_row(s, row, spec, seed_returns))
    pd.DataFrame(rows).to_csv(snakemake.output[0], index=False)  # noqa: F821
    write_sidecar(snakemake.output[0], run.provenance())  # noqa: F821
