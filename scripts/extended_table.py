"""Rules `table3`, `unseen_tables`, `scarcity_table`: one extended table (3, 12-16) from per-cell result files.

``params.settings["inputs"]`` gives, for each input file in order, the table its cells belong to, their
number of training agents and, for Tables 14-16, the trial (cells are then mean ± std across trials);
``settings["tables"]`` the tables written, in the order of the outputs.
"""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

from pathlib import Path

import pandas as pd

from persim.provenance import write_sidecar
from persim.reporting.extended import across_trials, cells_from_results, extended_latex, extended_long
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    s, inp, out = run.settings, snakemake.input, snakemake.output  # noqa: F821
    frames = []
    for path, facts in zip(inp.results, s["inputs"]):
        cells = cells_from_results(pd.read_csv(path, keep_default_na=False, na_values=[""]), facts["table"],
                                   facts["n_train_agents"])
        frames.append(cells.assign(trial=facts.get("trial", 0)))
    cells = pd.concat(frames, ignore_index=True)
    cells = across_trials(cells.drop(columns="trial")) if s.get("across_trials") else cells.drop(columns="trial")
    for table, csv, tex in zip(s["tables"], out.csv, out.tex):
        long = extended_long(cells[cells["table"] == table], table)
        long.to_csv(csv, index=False)
        Path(tex).write_text(extended_latex(long, table, s.get("scale_note", "")))
        write_sidecar(csv, run.provenance())
        done = long["ours"].notna() & long["paper"].notna()
        run.logger.info("table %d: %d of %d paper cells have ours (%d cells of ours in all)", table, int(done.sum()),
                        int(long["paper"].notna().sum()), int(long["ours"].notna().sum()))
