"""Rule `train_persim`: fit PerSim's M-member ensemble on one dataset."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.data import load_dataset
from persim.device import resolve_device
from persim.models import PerSimConfig, train_persim
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    device = resolve_device(s["device"])
    ds = load_dataset(snakemake.input.dataset, env=s["env"])  # noqa: F821
    n_agents = len(pd.read_parquet(snakemake.input.agents))  # noqa: F821
    run.logger.info("%d transitions, %d agents, device %s", ds.n_transitions, n_agents, device)
    model = dict(s["model"])
    if s["rank_source"] == "cv":
        cv = pd.read_csv(snakemake.input.rank_cv[0])  # noqa: F821
        model["rank"] = int(cv.loc[cv["selected"], "rank"].iloc[0])
        run.logger.info("rank %d chosen by cross-validation (%s)", model["rank"], snakemake.input.rank_cv[0])  # noqa: F821
    sim, history = train_persim(ds, n_agents, PerSimConfig(**model), seed=s["seed"], device=device)
    sim.meta["provenance"] = run.provenance(device)
    sim.save(snakemake.output.model)  # noqa: F821
    write_sidecar(snakemake.output.model, sim.meta["provenance"])  # noqa: F821
    pd.DataFrame({"epoch": range(1, len(history["train_loss"]) + 1), "train_mse": history["train_loss"],
                  "epoch_s": history["epoch_s"]}).to_csv(snakemake.output.history, index=False)  # noqa: F821
