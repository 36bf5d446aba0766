"""Rule `policy_returns`: one CSV row per trained policy with its greedy return and the paper's target."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)
import json

import pandas as pd

from persim.policies.targets import OFF_TARGET, paper_target, target_gap
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    rows = []
    for path in snakemake.input:  # noqa: F821
        st = json.load(open(path))
        rows.append({
            "env": st["env"], "policy": st["policy"], "algo": st["algo"],
            "covariates": ";".join(f"{k}={v:g}" for k, v in st["covariates"].items()),
            "n_steps": st["n_steps"], "n_eval_episodes": len(st["eval_returns"]),
            "mean_return": st["mean_return"], "std_return": st["std_return"],
            "paper_target": paper_target(st["env"], st["policy"]),
            "target_gap": target_gap(st["mean_return"], paper_target(st["env"], st["policy"])),
            "wall_time_s": st["provenance"]["wall_time_s"],
        })
    table = pd.DataFrame(rows)
    table["off_target"] = table["target_gap"] > OFF_TARGET  # flagged in the comparison report
    for _, r in table[table["off_target"]].iterrows():
        run.logger.warning("%s %s: greedy return %.1f misses the paper's target %.0f by %.0f%%", r["env"], r["policy"],
                           r["mean_return"], r["paper_target"], 100 * r["target_gap"])
    table.to_csv(snakemake.output[0], index=False)  # noqa: F821
    write_sidecar(snakemake.output[0], run.provenance())  # noqa: F821
