"""The job server (persim/jobserver.py): a served job behaves as its own process would."""
from __future__ import annotations

import fcntl
import os
import signal
import socket as sk
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from persim.jobserver import ENV_FLAG, PRELOAD_ENV, socket_path

REPO = Path(__file__).resolve().parents[1]

JOB = """
import os, sys, time
sys.path.insert(0, {repo!r})
from persim.jobserver import delegate
delegate({root!r})
print("job", os.getpid(), os.getppid(), os.getcwd(), sys.argv[1:], os.environ.get("MYVAR"), flush=True)
print("to stderr", file=sys.stderr, flush=True)
mode = os.environ.get("MODE", "")
if mode == "raise":
    raise ValueError("bad input in column x")
if mode == "sleep":
    open(os.environ["PIDFILE"], "w").write(str(os.getpid()))
    time.sleep(60)
sys.exit(int(os.environ.get("CODE", "0")))
"""


@pytest.fixture
def job(tmp_path):
    """A job script served by a server of its own (keyed by ``tmp_path``), preloading nothing heavy."""
    root = tmp_path / "root"
    root.mkdir()
    script = tmp_path / "job.py"
    script.write_text(JOB.format(repo=str(REPO), root=str(root)))
    yield script, root
    path = socket_path(root)
    for suffix in ("", ".lock", ".log"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_job(script: Path, served: bool = True, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, PRELOAD_ENV: "json", ENV_FLAG: "1" if served else "0", **env}
    return subprocess.run([sys.executable, str(script), "a", "b"], cwd=script.parent, capture_output=True,
                          text=True, env=full, timeout=120)


def fields(res: subprocess.CompletedProcess) -> list[str]:
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("job "))
    return line.split(" ", 4)


def test_a_served_job_gets_argv_cwd_env_stdio_and_returns_its_status(job):
    script, root = job
    first = run_job(script, MYVAR="one", CODE="3")
    assert first.returncode == 3, first.stderr
    ppid = fields(first)[2]
    assert int(ppid) != os.getpid()  # forked by the server, not started by this process
    assert "to stderr" in first.stderr
    assert f"{script.parent} ['a', 'b'] one" in first.stdout
    second = run_job(script, MYVAR="two")
    assert second.returncode == 0
    assert " ['a', 'b'] two" in second.stdout
    assert fields(second)[2] == ppid  # the same server forked both jobs
    assert socket_path(root).exists()


def test_without_the_flag_a_job_runs_in_its_own_process(job):
    script, root = job
    res = run_job(script, served=False, MYVAR="x")
    assert res.returncode == 0
    assert int(fields(res)[2]) == os.getpid()
    assert not socket_path(root).exists()


def test_a_job_in_a_slurm_allocation_is_never_served(job):
    script, root = job
    res = run_job(script, SLURM_JOB_ID="42")
    assert res.returncode == 0
    assert int(fields(res)[2]) == os.getpid()
    assert not socket_path(root).exists()


def test_an_exception_in_a_served_job_is_status_1_with_its_traceback(job):
    script, _ = job
    res = run_job(script, MODE="raise")
    assert res.returncode == 1
    assert "ValueError: bad input in column x" in res.stderr


def test_terminating_the_waiting_process_ends_the_served_job(job, tmp_path):
    script, _ = job
    pidfile = tmp_path / "pid"
    env = {**os.environ, PRELOAD_ENV: "json", ENV_FLAG: "1", "MODE": "sleep", "PIDFILE": str(pidfile)}
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "the served job never started"
        time.sleep(0.1)
    child = int(pidfile.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    deadline = time.monotonic() + 30
    while _alive(child):
        assert time.monotonic() < deadline, f"served job {child} outlived its waiting process"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_the_server_stays_in_the_jobs_session_in_a_group_of_its_own(job):
    """Same session (Linux shares the CPU fairly between sessions: a server in a session of its own
    would ignore `nice`), its own process group (signals to the job's group leave it alone)."""
    script, root = job
    assert run_job(script).returncode == 0
    server = int(Path(f"{socket_path(root)}.lock").read_text())
    assert os.getsid(server) == os.getsid(0)
    assert os.getpgid(server) == server != os.getpgid(0)


def test_a_job_that_no_server_starts_runs_in_its_own_process(job, tmp_path):
    """A socket that accepts but never starts the job (a server exiting as the job connects)."""
    script, root = job
    dead = sk.socket(sk.AF_UNIX, sk.SOCK_STREAM)
    dead.bind(str(socket_path(root)))
    dead.listen(8)
    lock = open(f"{socket_path(root)}.lock", "w")  # hold the lock: no real server can start
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def refuse():
        for _ in range(2):
            conn, _ = dead.accept()
            conn.close()

    threading.Thread(target=refuse, daemon=True).start()
    res = run_job(script, MYVAR="z")
    assert res.returncode == 0, res.stderr
    assert int(fields(res)[2]) == os.getpid()
    assert "running it in its own process" in res.stderr
    dead.close()
    lock.close()
