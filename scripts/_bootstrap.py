"""Put this checkout's ``persim`` first on ``sys.path``.

Snakemake adds ``scripts/`` to the path of every script job; importing this module makes the jobs
run the package next to the Snakefile (whose sources the rules hash) even inside a ``--use-conda``
environment or when another checkout is pip-installed.
"""
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
