"""Rule `eval_prediction`: RMSE / R² of one trained simulator on the test agents' true rollouts."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import numpy as np
import pandas as pd

from persim.envs import get_spec
from persim.evaluation.prediction import TestRollouts, evaluate_prediction
from persim.methods import load_simulator
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    spec = get_spec(s["env"])
    sim = load_simulator(s["method"], snakemake.input.model)  # noqa: F821
    data = np.load(snakemake.input.rollouts)  # noqa: F821
    agents = pd.read_parquet(snakemake.input.agents).query("test_agent > 0")  # noqa: F821
    rows = []
    for _, row in agents.iterrows():
        aid = int(row["agent_id"])
        ro = TestRollouts(data[f"states_{aid}"], data[f"actions_{aid}"], data[f"terminated_{aid}"])
        res = evaluate_prediction(sim, aid, ro, warmup=s["warmup"], horizon=s["horizon"], feedback=s["feedback"])
        run.logger.info("agent %d: rmse %.4f r2_median %.3f over %d rollouts (%d cut short at termination, "
                        "%d dropped: terminated in the warm-up)", row["test_agent"], res["rmse"], res["r2_median"],
                        res["n_rollouts"], res["n_cut"], res["n_dropped"])
        rows.append({"env": s["env"], "dataset": s["dataset"], "method": s["method_label"],
                     "agent": int(row["test_agent"]), "agent_id": aid,
                     "covariates": ";".join(f"{c}={row[c]:g}" for c in spec.covariates), **res})
    pd.DataFrame(rows).to_csv(snakemake.output[0], index=False)  # noqa: F821
    write_sidecar(snakemake.output[0], run.provenance())  # noqa: F821
