"""Rule `table5`: Table 5 (dataset returns and lengths) as CSV and LaTeX, beside the paper's numbers."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)
from pathlib import Path

import pandas as pd

from persim.data import load_dataset
from persim.provenance import write_sidecar
from persim.reporting.table5 import build_table5, dataset_rows, table5_latex
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    agents = {}
    for path in snakemake.input.agents:  # noqa: F821
        table = pd.read_parquet(path)
        env = Path(path).parent.name
        agents[env] = table
    rows = []
    for path in snakemake.input.datasets:  # noqa: F821
        ds = load_dataset(path)
        test = agents[ds.env].query("test_agent > 0")
        rows += dataset_rows(ds, ds.meta["behaviour"], dict(zip(test["test_agent"], test["agent_id"])))
    n_agents = int(next(iter(agents.values())).shape[0])
    table = build_table5(rows, n_agents)
    table.to_csv(snakemake.output.csv, index=False)  # noqa: F821
    Path(snakemake.output.tex).write_text(table5_latex(table, snakemake.params.scale_note))  # noqa: F821
    write_sidecar(snakemake.output.csv, run.provenance())  # noqa: F821
