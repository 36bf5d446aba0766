"""Check every cached output of a run against what was recorded when it was written.

    python -m persim.verify results/quick            # list damaged outputs (exit 1 if any, or no run)
    python -m persim.verify results/quick --delete   # ... and delete them: the next run rebuilds them

Snakemake reruns a job only when an input is newer or a setting or the code changed; it never
notices that a cached file was altered (a disk error, a partial copy, an edit). Two records make it
checkable: every output with a provenance sidecar (``<file>.meta.json``) has its SHA-256 there, and
every Parquet file (agents tables, datasets) carries a CRC checksum per data page. Deleting a
damaged file makes Snakemake rebuild it and everything downstream of it (their inputs turn newer).
A sidecar whose output is gone (a job that failed after writing it) is listed too and deleted.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from persim.provenance import file_sha256

SIDECAR = ".meta.json"


@dataclass
class Finding:
    """One checked file: ``status`` is ok, damaged, orphan (sidecar without its output) or unchecked."""

    path: Path
    status: str
    detail: str = ""


def _check_sidecar(side: Path) -> Finding:
    out = Path(str(side)[: -len(SIDECAR)])
    if not out.exists():
        return Finding(side, "orphan", f"its output {out.name} does not exist")
    try:
        record = json.loads(side.read_text())
    except json.JSONDecodeError as exc:
        return Finding(side, "damaged", f"sidecar is not JSON ({exc})")
    want = record.get("sha256")
    if want is None:
        return Finding(out, "unchecked", "its sidecar records no content hash (written by an older version)")
    got = file_sha256(out)
    if got != want:
        return Finding(out, "damaged", f"content hash {got[:12]} differs from the recorded {want[:12]}")
    return Finding(out, "ok")


def _check_parquet(path: Path) -> Finding:
    from persim.data.schema import DatasetError, read_table

    try:
        read_table(path)
    except DatasetError as exc:
        return Finding(path, "damaged", str(exc).split(": ", 1)[-1])
    return Finding(path, "ok")


def verify(root: str | Path) -> list[Finding]:
    """Findings for every sidecar-recorded output and every Parquet file under ``root``.
    FileNotFoundError if ``root`` is no folder or holds neither (not a run's output folder: nothing
    would be checked)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory (give a run's output folder, e.g. results/quick)")
    findings = [_check_sidecar(p) for p in sorted(root.rglob("*" + SIDECAR))]
    recorded = {f.path for f in findings}
    findings += [_check_parquet(p) for p in sorted(root.rglob("*.parquet")) if p not in recorded]
    if not findings:
        raise FileNotFoundError(f"{root}: no provenance files found under it (no *{SIDECAR} sidecars, no "
                                "Parquet files): not a run's output folder? give one, e.g. results/quick")
    return findings


def delete(findings: list[Finding]) -> list[Path]:
    """Delete damaged outputs (with their sidecars) and orphan sidecars; return what was deleted."""
    gone = []
    for f in findings:
        if f.status not in ("damaged", "orphan"):
            continue
        for p in (f.path, Path(str(f.path) + SIDECAR)):
            if p.exists():
                p.unlink()
                gone.append(p)
    return gone


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m persim.verify", description=__doc__.split("\n\n")[0])
    ap.add_argument("root", help="a run's output folder, e.g. results/quick")
    ap.add_argument("--delete", action="store_true", help="delete damaged outputs so the next run rebuilds them")
    args = ap.parse_args(argv)
    try:
        findings = verify(args.root)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bad = [f for f in findings if f.status in ("damaged", "orphan")]
    counts = {s: sum(f.status == s for f in findings) for s in ("ok", "damaged", "orphan", "unchecked")}
    for f in bad + [f for f in findings if f.status == "unchecked"]:
        print(f"{f.status:9s} {f.path}: {f.detail}")
    print(f"{len(findings)} files checked: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    if bad and args.delete:
        gone = delete(bad)
        print(f"deleted {len(gone)} files; rerun snakemake with the same --configfile to rebuild them")
        return 0
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
