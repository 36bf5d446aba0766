"""Rule `pending_tables`: Tables 3 and 12-16 in the paper's shape, ours '—' (experiments not run yet)."""
import _bootstrap  # noqa: F401  (this checkout's persim first on sys.path)

from pathlib import Path

from persim.provenance import write_sidecar
from persim.reporting.pending_tables import PENDING_TABLES, pending_latex, pending_long
from persim.workflow import rule_run

with rule_run(snakemake) as run:  # noqa: F821
    out = snakemake.output  # noqa: F821
    for table, csv, tex in zip(PENDING_TABLES, out.csv, out.tex):
        long = pending_long(table)
        long.to_csv(csv, index=False)
        Path(tex).write_text(pending_latex(long, table))
        write_sidecar(csv, run.provenance())
        run.logger.info("table %d: %d paper cells, none run here", table, len(long))
