"""Rule `prediction_tables`: Tables 1 and 6-8 (CSV + LaTeX) from the per-cell prediction results."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

from functools import partial

import pandas as pd

from persim.reporting.outputs import write_result_tables
from persim.reporting.prediction_tables import prediction_latex, prediction_long
from persim.reporting.selection import table1_latex
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    long = prediction_long(pd.concat([pd.read_csv(p) for p in snakemake.input.results], ignore_index=True))  # noqa: F821
    note = snakemake.params.scale_note  # noqa: F821
    write_result_tables(long, snakemake.output, partial(prediction_latex, note=note), 1,  # noqa: F821
                        partial(table1_latex, note=note), snakemake.params.n_agents, run.provenance())  # noqa: F821
