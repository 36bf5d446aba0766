"""Rule `eval_prediction`: RMSE / R² of one trained simulator on the test agents' true rollouts."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.envs import get_spec
from persim.evaluation.prediction import evaluate_prediction, load_test_rollouts
from persim.methods import load_simulator
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    spec = get_spec(s["env"])
    sim = load_simulator(s["method"], snakemake.input.model)  # noqa: F821
    agents = pd.read_parquet(snakemake.input.agents)  # noqa: F821
    covariates = agents.set_index("agent_id")[list(spec.covariates)]
    rows = []
    for agent, aid, ro in load_test_rollouts(snakemake.input.rollouts, agents):  # noqa: F821
        res = evaluate_prediction(sim, aid, ro, warmup=s["warmup"], horizon=s["horizon"], feedback=s["feedback"])
        run.logger.info("agent %d: rmse %.4f r2_median %.3f over %d rollouts (%d cut short at termination, "
                        "%d dropped: terminated in the warm-up)", agent, res["rmse"], res["r2_median"],
                        res["n_rollouts"], res["n_cut"], res["n_dropped"])
        rows.append({"env": s["env"], "dataset": s["dataset"], "method": s["method_label"],
                     "agent": agent, "agent_id": aid,
                     "covariates": ";".join(f"{c}={v:g}" for c, v in covariates.loc[aid].items()), **res})
    pd.DataFrame(rows).to_csv(snakemake.output[0], index=False)  # noqa: F821
    write_sidecar(snakemake.output[0], run.provenance())  # noqa: F821
