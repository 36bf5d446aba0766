"""Rule `reward_tables`: Tables 2 and 9-11 (CSV + LaTeX) from the per-cell reward results."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

from functools import partial

import pandas as pd

from persim.reporting.outputs import write_result_tables
from persim.reporting.reward_tables import reward_latex, reward_long
from persim.reporting.selection import table2_latex
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    frames = [pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in snakemake.input.results]  # noqa: F821
    long = reward_long(pd.concat(frames, ignore_index=True))
    scale, reference = snakemake.params.scale_note, snakemake.params.reference_notes  # noqa: F821

    def env_table(frame: pd.DataFrame, env: str, n_agents: int) -> str:
        """An env's table; its caption names the reference budget where the env has that row."""
        return reward_latex(frame, env, n_agents, note=scale + reference.get(env, ""))

    write_result_tables(long, snakemake.output, env_table, 2, partial(table2_latex, note=scale),  # noqa: F821
                        snakemake.params.n_agents, run.provenance())  # noqa: F821
