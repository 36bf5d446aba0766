"""Rule `dataset`: one trajectory per agent under one behaviour, written as Parquet."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)
from pathlib import Path

import pandas as pd

from persim.data import generate_dataset, write_dataset
from persim.policies import load_policy
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s = run.settings
    agents = pd.read_parquet(snakemake.input.agents)  # noqa: F821
    policies = {Path(p).stem: load_policy(p, device="cpu") for p in snakemake.input.policies}  # noqa: F821
    frame = generate_dataset(s["env"], agents, s["behaviour"], s["epsilon"], s["seed"], policies,
                             max_episode_steps=s["max_episode_steps"])
    meta = {"env": s["env"], "behaviour": s["behaviour"], "epsilon": s["epsilon"], "kind": "dataset",
            **run.provenance()}
    write_dataset(frame, snakemake.output[0], meta)  # noqa: F821
