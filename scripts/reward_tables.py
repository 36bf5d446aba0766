"""Rule `reward_tables`: Tables 9-11 (CSV + LaTeX) from the per-cell reward results."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

from pathlib import Path

import pandas as pd

from persim.provenance import write_sidecar
from persim.reporting.reward_tables import reward_latex, reward_long
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    results = pd.concat([pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in snakemake.input.results],  # noqa: F821
                        ignore_index=True)
    long = reward_long(results)
    long.to_csv(snakemake.output.long, index=False)  # noqa: F821
    for csv, tex in zip(snakemake.output.csv, snakemake.output.tex):  # noqa: F821
        env = Path(csv).stem.split("_", 1)[1]
        long[long["env"] == env].to_csv(csv, index=False)
        Path(tex).write_text(reward_latex(long, env, snakemake.params.n_agents))  # noqa: F821
    write_sidecar(snakemake.output.long, run.provenance())  # noqa: F821
