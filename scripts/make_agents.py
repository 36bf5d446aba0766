"""Rule `agents`: sample the agents table of one env (thin entry point, logic in persim.envs.agents)."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)
from persim.data.schema import write_dataset
from persim.envs import get_spec
from persim.envs.agents import sample_agents
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821 (injected by Snakemake)
    s = run.settings
    table = sample_agents(get_spec(s["env"]), n_agents=s["n_agents"], seed=s["seed"])
    run.logger.info("%d agents, policy assignment counts %s", len(table), table["logging_policy"].value_counts().to_dict())
    write_dataset(table, snakemake.output[0], {"env": s["env"], "kind": "agents", **run.provenance()})  # noqa: F821
