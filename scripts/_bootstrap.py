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

# With PERSIM_JOB_SERVER=1 (make quick / make smoke), run this job in a fork of a server that has
# torch, d3rlpy & co. already imported, and exit with its status (persim/jobserver.py).
from persim.jobserver import delegate  # noqa: E402

delegate(ROOT)
