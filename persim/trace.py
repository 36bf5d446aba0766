"""Provenance chain of any result: which rules and files a table cell came from.

Every output carries a provenance record (rule, settings hash, seed, git commit, versions, device,
wall time, input and output paths): a ``<file>.meta.json`` sidecar, Parquet metadata, or, for
d3rlpy policy files, the ``provenance`` entry of the policy's ``.json`` stats. Following the
recorded inputs back gives the chain. For a table, ``cell`` filters narrow the inputs to the
per-cell result files that hold that cell.

    python -m persim.trace results/quick/tables/reward_long.csv --env mountaincar --dataset pure \
        --method PerSim --agent 3
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

CELL_KEYS = ("env", "dataset", "method", "agent")


def read_provenance(path: str | Path) -> dict[str, Any] | None:
    """The provenance record of ``path`` (sidecar, Parquet metadata or policy stats), or None."""
    path = Path(path)
    side = Path(str(path) + ".meta.json")
    if side.exists():
        return json.loads(side.read_text())
    if path.suffix == ".parquet" and path.exists():
        from persim.data.schema import read_meta

        return read_meta(path)
    if path.suffix == ".pt" and path.exists():
        import torch

        blob = torch.load(str(path), map_location="cpu", weights_only=False)
        meta = blob.get("meta", {}) if isinstance(blob, dict) else {}
        return meta.get("provenance")
    stats = path.with_suffix(".json")
    if path.suffix in (".d3", ".npz") and stats.exists():
        data = json.loads(stats.read_text())
        return data.get("provenance", data)
    return None


def _matches(path: Path, cell: dict[str, Any]) -> bool:
    """True unless ``path`` is a CSV whose rows contradict every filter it has columns for."""
    if not cell or path.suffix != ".csv" or not path.exists():
        return True
    frame = pd.read_csv(path, keep_default_na=False)
    keys = [k for k in cell if k in frame.columns]
    if not keys:
        return True
    hit = pd.Series(True, index=frame.index)
    for k in keys:
        hit &= frame[k].astype(str) == str(cell[k])
    return bool(hit.any())


def chain(path: str | Path, cell: dict[str, Any] | None = None, _seen: set | None = None,
          depth: int = 0) -> Iterator[tuple[int, Path, dict[str, Any] | None, bool]]:
    """Depth-first (depth, file, provenance, already_shown) over ``path`` and its recorded inputs."""
    seen = set() if _seen is None else _seen
    path = Path(path)
    key = str(path.resolve())
    if key in seen:
        yield depth, path, None, True
        return
    seen.add(key)
    prov = read_provenance(path)
    yield depth, path, prov, False
    for inp in (prov or {}).get("inputs", []):
        if _matches(Path(inp), cell or {}):
            yield from chain(inp, cell, seen, depth + 1)


def describe(prov: dict[str, Any] | None) -> str:
    """One line: rule, settings hash, seed, commit (dirty flag), wall time."""
    if prov is None:
        return "(no provenance record)"
    git = prov.get("git") or {}
    commit = (git.get("commit") or "?")[:10] + ("+dirty" if git.get("dirty") else "")
    return (f"rule {prov.get('rule', '?')} | settings {str(prov.get('settings_hash', '?'))[:12]} | "
            f"seed {prov.get('seed')} | git {commit} | {prov.get('wall_time_s')} s | {prov.get('created', '')}")


def format_chain(path: str | Path, cell: dict[str, Any] | None = None) -> str:
    lines = []
    for depth, p, prov, shown in chain(path, cell):
        pad = "  " * depth
        lines.append(f"{pad}{p}" + ("  (see above)" if shown else f"\n{pad}  <- {describe(prov)}"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m persim.trace", description=__doc__.split("\n\n")[0])
    ap.add_argument("path", help="a result file (table, CSV, model, dataset ...)")
    for k in CELL_KEYS:
        ap.add_argument(f"--{k}", help=f"table cell filter on column '{k}'")
    args = ap.parse_args(argv)
    if not Path(args.path).exists():
        print(f"error: no such file: {args.path}", file=sys.stderr)
        return 2
    cell = {k: getattr(args, k) for k in CELL_KEYS if getattr(args, k) is not None}
    if cell and not _matches(Path(args.path), cell):
        wanted = ", ".join(f"{k}={v}" for k, v in cell.items())
        print(f"error: no row of {args.path} matches {wanted}", file=sys.stderr)
        return 1
    print(format_chain(args.path, cell))
    return 0


if __name__ == "__main__":
    sys.exit(main())
