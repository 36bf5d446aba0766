"""Rule `eval_reward`: MPC in the true env for every test agent and seed (one method, one dataset).

Method ``true_mpc`` plans on the batched true dynamics (no data); any simulator method plans on its
learned ensemble.
"""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.device import resolve_device
from persim.envs import get_spec
from persim.evaluation.reward import plan_rewards, reward_episodes, reward_row
from persim.methods import load_simulator
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    spec = get_spec(s["env"])
    agents = pd.read_parquet(snakemake.input.agents).query("test_agent > 0")  # noqa: F821
    device = resolve_device(s["device"])  # the planner's candidate rollouts run there (config `device`)
    models = [] if s["method"] == "true_mpc" else snakemake.input.model  # noqa: F821
    models = [models] if isinstance(models, str) else list(models)  # one for every seed, or one per seed
    sims = [load_simulator(s["method"], m, device) for m in models]
    # PerSim's planning step (the fused C kernel, or a torch form): in the log and the provenance record
    forms = sorted({sim.planning_form() for sim in sims if hasattr(sim, "planning_form")})
    for form in forms:
        run.logger.info("PerSim planning step: %s", form)
    # every test agent x seed x episode in one lock-step batch (one per seed with a simulator per seed)
    plan = reward_episodes(agents, spec, s["seed"], s["n_seeds"], s["n_episodes"])
    returns = plan_rewards(s["env"], plan, sims, s["mpc"], s["seed"], s["max_episode_steps"], device,
                           s["terminal_reward"])
    rows = []
    for (_, row), seed_returns in zip(agents.iterrows(), plan.seed_means(returns)):
        for k, r in enumerate(seed_returns):
            run.logger.info("agent %d seed %d: mean return %.2f over %d episodes", row["test_agent"], k, r,
                            s["n_episodes"])
        rows.append(reward_row(s, row, spec, seed_returns))
    pd.DataFrame(rows).to_csv(snakemake.output[0], index=False)  # noqa: F821
    facts = {"persim_planning_step": "; ".join(forms)} if forms else {}
    write_sidecar(snakemake.output[0], run.provenance(device, **facts))  # noqa: F821
