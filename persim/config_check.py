"""``python -m persim.config_check FILE ...`` (``make check-config``): every check a config gets before
a run, without running anything.

1. :func:`persim.config.main`: YAML syntax, the schema, every method's settings (one line per problem).
2. The checks that need the workflow's view (which methods, datasets and Ns a run has, e.g.
   ``data_scarcity.main_run_trial``, ``evaluation.reward.method_episodes``,
   ``evaluation.reward.reference_methods``): they run where Snakemake parses the workflow
   (``rules/common.smk``), so this parses it with the same files (``snakemake --list-rules``, a few
   seconds, no DAG) and prints the parse's error without Snakemake's traceback.

``python -m persim.config_check --outdir FILE ...`` prints the merged config's ``outdir`` (where
``make report`` writes), or the first check's error.

Not imported by any job, so editing it reruns nothing (:mod:`persim.codehash`).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from persim.config import ROOT, ConfigError, load_config
from persim.config import main as check_files


def _snakemake() -> str:
    """The snakemake beside this Python (the project's venv), else the one on PATH."""
    here = Path(sys.executable).with_name("snakemake")
    return str(here) if here.is_file() else (shutil.which("snakemake") or "snakemake")


def parse_error(stderr: str) -> str:
    """The lines of a failed Snakemake parse that name the problem: its error lines without the
    traceback (``Traceback ...``, its ``File ...`` frames and their indented source lines) and without
    Snakemake's own notices; all of ``stderr`` if nothing is left."""
    notices = ("Using workflow specific profile", "Building DAG", "Assuming unrestricted shared filesystem",
               "note: ")  # the last: the workflow's own notes (rules/scarcity.smk), not errors
    kept, in_frame = [], False
    for ln in stderr.splitlines():
        if ln.startswith("  File ") or ln.startswith("Traceback (most recent call last)"):
            in_frame = True
        elif in_frame and ln.startswith("    "):
            continue  # a frame's source line or its ^^^ marker
        else:
            in_frame = False
            extended = ln.startswith("Config file ") and "extended by additional config" in ln
            if ln.strip() and not ln.startswith(notices) and not extended:
                kept.append(ln)
    return "\n".join(kept) or stderr.strip()


def check_workflow(files: list[str]) -> str | None:
    """Parse the workflow with ``files`` laid over ``config/config.yaml``; None if it parses, else the
    error (see :func:`parse_error`)."""
    paths = [str(Path(f).resolve()) for f in files]
    cmd = [_snakemake(), "--list-rules", *(["--configfile", *paths] if paths else [])]
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not run {cmd[0]} ({exc}); `make setup` installs it into .venv"
    return None if done.returncode == 0 else parse_error(done.stderr)


def outdir(files: list[str]) -> str:
    """The ``outdir`` of ``files`` merged over ``config/config.yaml`` as Snakemake merges them, without
    a trailing slash (raises ConfigError as :func:`persim.config.load_config` does; ``config/config.yaml``
    among ``files`` merges onto itself unchanged)."""
    return str(load_config(ROOT / "config" / "config.yaml", *files)["outdir"]).rstrip("/")


USAGE = """usage: python -m persim.config_check [FILE [OVERLAY ...]]   (make check-config CONFIG=FILE [OVERLAY=...])
       python -m persim.config_check --outdir FILE [OVERLAY ...]
Checks config files (none: config/config.yaml alone) merged over config/config.yaml as Snakemake merges
them: YAML syntax (with line numbers), the schema, every method's settings, then the checks that run where
Snakemake parses the workflow.
--outdir prints the merged outdir instead."""


def main(argv: list[str] | None = None) -> int:
    files = list(sys.argv[1:] if argv is None else argv)
    if files[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if files[:1] == ["--outdir"]:
        try:
            print(outdir(files[1:]))
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if check_files(files):
        return 1
    error = check_workflow(files)
    if error:
        print(f"error: Snakemake could not parse the workflow with these files:\n{error}", file=sys.stderr)
        return 1
    print("workflow ok: Snakemake parsed it with these files (the checks of rules/common.smk)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
