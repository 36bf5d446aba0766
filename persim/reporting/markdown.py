"""Markdown helpers of the reports (GitHub pipe tables)."""
from __future__ import annotations


def pipe_table(headers: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    """GitHub pipe table; ``align`` per column: "l" or "r" (default: first two left, rest right)."""
    align = align or ["l" if i < 2 else "r" for i in range(len(headers))]
    esc = lambda s: str(s).replace("|", r"\|").replace("\n", " ")  # noqa: E731
    rule = [":--" if a == "l" else "--:" for a in align]
    lines = ["| " + " | ".join(esc(h) for h in headers) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
