"""Rule `figure_trajectories`: PerSim's open-loop predictions vs the true states (Fig. 2/4)."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.envs import get_spec
from persim.evaluation.prediction import collect_rollouts, predict_open_loop
from persim.methods import load_simulator
from persim.policies import load_policy
from persim.provenance import write_sidecar
from persim.reporting.figures import plot_trajectories
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    spec = get_spec(s["env"])
    sim = load_simulator("persim", snakemake.input.model)  # noqa: F821
    act = load_policy(snakemake.input.policy)  # noqa: F821
    agents = pd.read_parquet(snakemake.input.agents).set_index("test_agent")  # noqa: F821
    curves = {}
    for k in s["agents"]:
        row = agents.loc[k]
        cov = {c: float(row[c]) for c in spec.covariates}
        ro = collect_rollouts(s["env"], cov, act, 1, s["warmup"] + s["steps"], s["seed"] + k)
        pred = predict_open_loop(sim, int(row["agent_id"]), ro, s["warmup"], s["steps"], s["feedback"])
        true = ro.states[0, s["warmup"] + 1:]
        n = int(ro.valid_steps()[0, s["warmup"]:].sum())  # up to the episode's end (pole fell, goal reached)
        label = f"agent {k} (" + ", ".join(f"{c}={v:g}" for c, v in cov.items()) + ")"
        label += f", episode ends at step {n}" if n < s["steps"] else ""
        curves[label] = (true[:n], pred[0, :n])
    plot_trajectories(s["env"], curves, snakemake.output[0])  # noqa: F821
    write_sidecar(snakemake.output[0], run.provenance())  # noqa: F821
