"""Rule `eval_reward`: MPC in the true env for every test agent and seed (one method, one dataset).

Method ``true_mpc`` plans on the batched true dynamics (no data); any simulator method plans on its
learned ensemble.
"""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.device import resolve_device
from persim.envs import get_spec
from persim.evaluation.reward import (evaluate_mpc, model_step_factory, reward_episodes, reward_row,
                                      true_step_factory)
from persim.methods import load_simulator
from persim.planning.factory import make_planner
from persim.provenance import write_sidecar
from persim.seeding import derive_seed
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    spec = get_spec(s["env"])
    agents = pd.read_parquet(snakemake.input.agents).query("test_agent > 0")  # noqa: F821
    device = resolve_device(s["device"])  # the planner's candidate rollouts run there (config `device`)
    sim = None if s["method"] == "true_mpc" else load_simulator(s["method"], snakemake.input.model, device)  # noqa: F821
    n_members = 1 if sim is None else sim.planning_members
    k_hist = 0 if sim is None else sim.context_length
    n_cand = s["mpc"]["n_candidates"]
    # every test agent x seed x episode in one lock-step batch: one planner call per env step
    plan = reward_episodes(agents, spec, s["seed"], s["n_seeds"], s["n_episodes"])
    planner = make_planner(s["env"], s["mpc"], n_members, derive_seed(s["seed"], "planner"))
    factory = (true_step_factory(s["env"], plan.covariates, n_cand) if sim is None
               else model_step_factory(sim, plan.agent_ids, n_cand, seed=derive_seed(s["seed"], "particles")))
    returns = evaluate_mpc(s["env"], plan.covariates, planner, factory, len(plan.seeds), 0, s["max_episode_steps"],
                           label=f"{len(agents)} agents x {s['n_seeds']} seeds x {s['n_episodes']} episodes",
                           history_length=k_hist, episode_seeds=plan.seeds, device=device,
                           terminal_reward=s["terminal_reward"])
    rows = []
    for (_, row), seed_returns in zip(agents.iterrows(), plan.seed_means(returns)):
        for k, r in enumerate(seed_returns):
            run.logger.info("agent %d seed %d: mean return %.2f over %d episodes", row["test_agent"], k, r,
                            s["n_episodes"])
        rows.append(reward_row(s, row, spec, seed_returns))
    pd.DataFrame(rows).to_csv(snakemake.output[0], index=False)  # noqa: F821
    write_sidecar(snakemake.output[0], run.provenance(device))  # noqa: F821
