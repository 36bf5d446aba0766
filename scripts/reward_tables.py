"""Rule `reward_tables`: Tables 9-11 (CSV + LaTeX) from the per-cell reward results."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

from pathlib import Path

import pandas as pd

from persim.provenance import write_sidecar
from persim.reporting.latex import write_env_tables
from persim.reporting.reward_tables import reward_latex, reward_long
from persim.reporting.selection import select, table2_latex
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    out = snakemake.output  # noqa: F821
    frames = [pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in snakemake.input.results]  # noqa: F821
    long = reward_long(pd.concat(frames, ignore_index=True))
    long.to_csv(out.long, index=False)
    write_env_tables(long, out.csv, out.tex, reward_latex, snakemake.params.n_agents)  # noqa: F821
    selection = select(long, 2)
    selection.to_csv(out.table2_csv, index=False)
    Path(out.table2_tex).write_text(table2_latex(long, snakemake.params.n_agents))  # noqa: F821
    for path in [out.long, *out.csv, out.table2_csv]:
        write_sidecar(path, run.provenance())
