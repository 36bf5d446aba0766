"""Rule `prediction_tables`: Tables 6-8 (CSV + LaTeX) from the per-cell prediction results."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

from pathlib import Path

import pandas as pd

from persim.provenance import write_sidecar
from persim.reporting.latex import write_env_tables
from persim.reporting.prediction_tables import prediction_latex, prediction_long
from persim.reporting.selection import select, table1_latex
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    out = snakemake.output  # noqa: F821
    long = prediction_long(pd.concat([pd.read_csv(p) for p in snakemake.input.results], ignore_index=True))  # noqa: F821
    long.to_csv(out.long, index=False)
    write_env_tables(long, out.csv, out.tex, prediction_latex, snakemake.params.n_agents)  # noqa: F821
    selection = select(long, 1)
    selection.to_csv(out.table1_csv, index=False)
    Path(out.table1_tex).write_text(table1_latex(long, snakemake.params.n_agents))  # noqa: F821
    for path in [out.long, *out.csv, out.table1_csv]:
        write_sidecar(path, run.provenance())
