"""Rules `train_offline_rl` (BCQ, CQL via d3rlpy) and `train_morel`: one policy set per dataset.

Scope "p" trains one policy on all agents' trajectories; scope "a" one per test agent on that
agent's single trajectory. The set is saved as one file (``policy.pt``).
"""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.config import build_dataclass
from persim.data import load_dataset
from persim.device import resolve_device
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    device = resolve_device(s["device"])
    if s["algo"] == "morel":
        from persim.baselines import morel as module

        train = {"max_episode_steps": s["max_episode_steps"], **s["train"]}  # model episodes as long as the env's
        cfg = build_dataclass(module.for_env, train, s["config_key"], module.MorelConfig, env=s["env"])
    else:
        from persim.baselines import offline_rl as module

        cfg = build_dataclass(module.for_env, s["train"], s["config_key"], module.OfflineRLConfig, env=s["env"],
                              algo=s["algo"])
    ds = load_dataset(snakemake.input.dataset, env=s["env"])  # noqa: F821
    agents = pd.read_parquet(snakemake.input.agents)  # noqa: F821
    test_ids = agents.loc[agents["test_agent"] > 0, "agent_id"].astype(int).tolist()
    run.logger.info("%s scope %s: %d transitions, test agents %s, device %s, %s", s["algo"], s["scope"],
                    ds.n_transitions, test_ids, device, cfg)
    policies = module.train_policy_set(ds, cfg, seed=s["seed"], scope=s["scope"], test_agent_ids=test_ids,
                                       device=device, logger=run.logger)
    prov = run.provenance(device)
    policies.meta["provenance"] = prov
    policies.save(snakemake.output[0])  # noqa: F821
    write_sidecar(snakemake.output[0], prov)  # noqa: F821
