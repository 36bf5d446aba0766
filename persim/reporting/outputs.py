"""Write one family of result tables: the long CSV, per-env CSV + LaTeX, the main-text selection."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from persim.provenance import write_sidecar
from persim.reporting.latex import write_env_tables
from persim.reporting.selection import select


def write_result_tables(long: pd.DataFrame, out: Any, env_latex: Callable, main_table: int,
                        main_latex: Callable, n_agents: int, provenance: dict) -> None:
    """``out`` has ``long``, ``csv``/``tex`` (one per env) and ``table<N>_csv``/``table<N>_tex`` paths
    (N = ``main_table``, 1 or 2); every CSV gets a provenance sidecar."""
    main_csv, main_tex = out[f"table{main_table}_csv"], out[f"table{main_table}_tex"]
    long.to_csv(out.long, index=False)
    write_env_tables(long, out.csv, out.tex, env_latex, n_agents)
    select(long, main_table).to_csv(main_csv, index=False)
    Path(main_tex).write_text(main_latex(long, n_agents))
    for path in [out.long, *out.csv, main_csv]:
        write_sidecar(path, provenance)
