"""Rule `prediction_tables`: Tables 1 and 6-8 (CSV + LaTeX) from the per-cell prediction results."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

import pandas as pd

from persim.reporting.outputs import write_result_tables
from persim.reporting.prediction_tables import prediction_latex, prediction_long
from persim.reporting.selection import table1_latex
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    long = prediction_long(pd.concat([pd.read_csv(p) for p in snakemake.input.results], ignore_index=True))  # noqa: F821
    write_result_tables(long, snakemake.output, prediction_latex, 1, table1_latex,  # noqa: F821
                        snakemake.params.n_agents, run.provenance())  # noqa: F821
