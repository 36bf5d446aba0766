"""Rule `train_policy`: train one logging/test policy online and record its greedy return."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)
import json

import numpy as np

from persim.device import resolve_device
from persim.policies import PolicyConfig, evaluate_policy, train_policy
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    device = resolve_device(s["device"])
    cfg = PolicyConfig(**s["train"])
    algo = train_policy(s["env"], s["covariates"], cfg, seed=s["seed"],
                        max_episode_steps=s["max_episode_steps"], device=device, terminal_reward=s["terminal_reward"])
    algo.save(snakemake.output.policy)  # noqa: F821
    returns = evaluate_policy(lambda obs: algo.predict(obs.astype(np.float32)), s["env"], s["covariates"],
                              n_episodes=cfg.eval_episodes, seed=s["seed"], max_episode_steps=s["max_episode_steps"],
                              terminal_reward=s["terminal_reward"])
    run.logger.info("greedy return over %d episodes: %.2f +- %.2f", len(returns), returns.mean(), returns.std())
    stats = {
        "env": s["env"], "policy": s["policy"], "covariates": s["covariates"], "algo": cfg.algo,
        "n_steps": cfg.n_steps, "eval_returns": returns.tolist(), "mean_return": float(returns.mean()),
        "std_return": float(returns.std()), "provenance": run.provenance(device),
    }
    with open(snakemake.output.stats, "w") as fh:  # noqa: F821
        json.dump(stats, fh, indent=2, default=str)
