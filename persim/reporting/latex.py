"""Minimal booktabs LaTeX rendering of wide tables (no jinja2 dependency), and the reward and RMSE cell
formats."""
from __future__ import annotations

import pandas as pd


def _escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def reward_cell(mean, std) -> str:
    """A reward cell "mean ± std" to one decimal; "—" where there is no mean, no "±" where there is no
    std (NaN: one seed or trial, or a paper cell printed without one) rather than a made-up "± 0.0"."""
    if mean is None or pd.isna(mean):
        return "—"
    return f"{mean:.1f}" if std is None or pd.isna(std) else f"{mean:.1f} ± {std:.1f}"


def rmse_cell(rmse, r2, r2_decimals: int = 3) -> str:
    """A prediction cell "RMSE (median R²)": RMSE to 3 decimals, R² to ``r2_decimals`` (the paper prints 2
    in Tables 1 and 12, 3 in Tables 6-8); "—" where there is no RMSE, the RMSE alone where there is no
    R² (None or NaN) rather than "(nan)"."""
    if rmse is None or pd.isna(rmse):
        return "—"
    return f"{rmse:.3f}" if r2 is None or pd.isna(r2) else f"{rmse:.3f} ({r2:.{r2_decimals}f})"


def to_booktabs(frame: pd.DataFrame, caption: str, label: str) -> str:
    """Render ``frame`` (string cells) as a booktabs ``table`` environment."""
    cols = list(frame.columns)
    lines = [
        r"\begin{table}[ht]", r"\centering", rf"\caption{{{_escape(caption)}}}", rf"\label{{{label}}}",
        r"\begin{tabular}{" + "l" * 2 + "r" * (len(cols) - 2) + "}", r"\toprule",
        " & ".join(_escape(str(c)) for c in cols) + r" \\", r"\midrule",
    ]
    for _, row in frame.iterrows():
        lines.append(" & ".join(_escape(str(v)) for v in row.tolist()) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def write_env_tables(long: pd.DataFrame, csv_paths, tex_paths, render, n_agents: int | None) -> None:
    """Write one CSV (rows of ``long`` for that env) and one LaTeX table per env.

    Paths are ``.../table<N>_<env>.csv|.tex``; ``render(long, env, n_agents)`` returns the LaTeX."""
    from pathlib import Path

    for csv, tex in zip(csv_paths, tex_paths):
        env = Path(csv).stem.split("_", 1)[1]
        long[long["env"] == env].to_csv(csv, index=False)
        Path(tex).write_text(render(long, env, n_agents))
