"""Rule `rank_cv`: hold-out validation score of every candidate rank r on one dataset."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.data import load_dataset
from persim.device import resolve_device
from persim.models import PerSimConfig
from persim.models.rank_selection import best_rank, rank_scores
from persim.provenance import write_sidecar
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    n_agents = len(pd.read_parquet(snakemake.input.agents))  # noqa: F821
    ds = load_dataset(snakemake.input.dataset, env=s["env"], n_agents=n_agents)  # noqa: F821
    device = resolve_device(s["device"])
    scores = rank_scores(ds, n_agents, PerSimConfig(**s["model"]), s["ranks"], s["seed"], s["val_fraction"], device)
    scores["selected"] = scores["rank"] == best_rank(scores)
    scores.insert(0, "env", s["env"])
    scores.insert(1, "dataset", s["dataset"])
    run.logger.info("rank scores:\n%s", scores.to_string(index=False))
    scores.to_csv(snakemake.output[0], index=False)  # noqa: F821
    write_sidecar(snakemake.output[0], run.provenance(device))  # noqa: F821
