"""Rule `synthetic_trajectories`: PerSim's synthetic trajectories for every test agent (Table 3, App. F.4)."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.augmentation import synthetic_frame
from persim.data import write_dataset
from persim.methods import load_simulator
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s, inp, out = run.settings, snakemake.input, snakemake.output  # noqa: F821
    sim = load_simulator(s["simulator"], inp.model)
    agents = pd.read_parquet(inp.agents).query("test_agent > 0")
    frame = synthetic_frame(sim, s["env"], agents, s["n_trajectories"], s["mpc"], s["max_episode_steps"], s["seed"])
    for aid, sub in frame.groupby("agent_id"):
        lengths = sub.groupby((sub["t"] == 0).cumsum()).size().tolist()
        run.logger.info("agent id %d: %d synthetic episodes, lengths %s, mean return %.2f", aid, len(lengths),
                        lengths, sub["reward"].sum() / len(lengths))
    prov = run.provenance()
    meta = {"env": s["env"], "behaviour": s["behaviour"], "kind": "synthetic", "synthetic": True,
            "simulator": s["simulator"], "n_trajectories": s["n_trajectories"], **prov}
    write_dataset(frame, out[0], meta)
    write_sidecar(out[0], prov)
