"""A fork server for Snakemake ``script:`` jobs: the heavy imports once per run, not once per job.

Every job of this workflow is a fresh ``python`` process that imports torch (~2.6 s of CPU here),
often d3rlpy (+4 s) and, at its first optimiser step, ``torch._dynamo`` (+2.3 s): on the quick
profile's ~420 jobs that is over half an hour of single-core work spent importing. With
``PERSIM_JOB_SERVER=1`` in the environment (``make quick`` / ``make smoke`` set it), a job's first
statement (``import _bootstrap``) hands the job to a local server that has those third-party
modules loaded: the server forks, the child takes over the job's stdin / stdout / stderr (passed
as file descriptors over a Unix socket), working directory, environment and ``argv``, and runs
the job's script file from the top, as ``python script`` would; the job's own process waits and
exits with the child's exit status. The first job starts the server (its log lies next to its
socket); it exits after ``idle`` seconds without jobs.

What stays the same: every job still runs Snakemake's script file, which re-reads its inputs and
params; ``persim`` itself is never preloaded (edited sources are what a job imports); seeds are set
by each job, so outputs are identical with or without the server (tested). What differs: a
``benchmark:`` file's ``s`` (wall time) is the job's, but its CPU and memory columns cover only the
waiting process, not the child. Without the variable, on a cluster node, or when the server cannot
start within ``start_timeout`` seconds, a job runs in its own process as before.

Only for local runs: a job inside a Slurm allocation (``SLURM_JOB_ID`` set) always runs in its own
process, whatever the variable says.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import fcntl
import hashlib
import importlib
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ENV_FLAG = "PERSIM_JOB_SERVER"      # "1": delegate jobs to the server
SERVED_FLAG = "PERSIM_SERVED_JOB"   # set in a forked child: run the job here, do not delegate again
PRELOAD = ("numpy", "pandas", "pyarrow.parquet", "yaml", "tqdm", "torch", "torch.nn", "torch.optim",
           "torch._dynamo", "gymnasium", "d3rlpy", "snakemake.io", "snakemake.logging",
           "snakemake.iocontainers")
PRELOAD_ENV = "PERSIM_JOB_SERVER_PRELOAD"  # comma-separated modules instead of PRELOAD (tests)
_HEADER = struct.Struct("!I")       # length prefix of the JSON request


def enabled() -> bool:
    """Whether this process's jobs are to be served (``PERSIM_JOB_SERVER=1``)."""
    return os.environ.get(ENV_FLAG) == "1"


def socket_path(root: str | Path, python: str = sys.executable) -> Path:
    """The server socket of one checkout and interpreter (a short path: Unix sockets allow ~100 bytes)."""
    key = hashlib.sha256(f"{Path(python).resolve()}\0{Path(root).resolve()}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"persim-jobs-{os.getuid()}-{key}.sock"


# ------------------------------------------------------------------------------------------------
# Client: the job's own process
# ------------------------------------------------------------------------------------------------
def delegate(root: str | Path, start_timeout: float = 120.0) -> None:
    """Run this job in the server's fork and exit with its status; return (run here) when the
    server is not wanted (no ``PERSIM_JOB_SERVER=1``, or this is already a served child) or cannot
    be reached."""
    if not enabled() or os.environ.get(SERVED_FLAG) or os.environ.get("SLURM_JOB_ID"):
        return  # not asked, already served, or a cluster job (each runs alone in its allocation)
    path = socket_path(root)
    sys.stdout.flush()
    sys.stderr.flush()
    for _ in range(2):  # a server that was exiting (idle) as this job connected: start another
        conn = _connect(path) or _start_and_connect(path, root, start_timeout)
        code = None if conn is None else _run_remote(conn)
        if code is not None:
            os._exit(code)
    print(f"persim job server: no server at {path} started this job; running it in its own process",
          file=sys.stderr)


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def _start_and_connect(path: Path, root: str | Path, timeout: float) -> socket.socket | None:
    """Start a server (one wins the lock; others exit at once) and wait until it accepts. It gets a
    process group of its own (Snakemake's signals to the job's group leave it alone) but stays in
    Snakemake's session: Linux's autogroup scheduling shares the CPU fairly between sessions, so a
    server in a new session would take an equal share against everything else the user runs,
    whatever their ``nice``."""
    log = open(f"{path}.log", "ab")
    env = {k: v for k, v in os.environ.items() if k != ENV_FLAG}
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    subprocess.Popen([sys.executable, "-m", "persim.jobserver", "--socket", str(path)], cwd=str(root), env=env,
                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, process_group=0, close_fds=True)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = _connect(path)
        if conn is not None:
            return conn
        time.sleep(0.2)
    return None


def _run_remote(conn: socket.socket) -> int | None:
    """Send this process's job (argv, cwd, environment, stdio) and wait for the child's exit status
    (None: no child started it). SIGTERM / SIGINT / SIGHUP are passed on to the child; a child lost
    after it started is exit status 1."""
    request = json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    reader = conn.makefile("r")
    try:
        socket.send_fds(conn, [_HEADER.pack(len(request)) + request], [0, 1, 2])
        first = reader.readline().split()
    except OSError:
        return None
    if len(first) != 2 or first[0] != "PID":
        return None
    child = int(first[1])

    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    last = reader.readline().split()
    if len(last) == 2 and last[0] == "EXIT":
        return int(last[1])
    print(f"persim job server: job process {child} ended without an exit status (killed?)", file=sys.stderr)
    return 1


# ------------------------------------------------------------------------------------------------
# Server
# ------------------------------------------------------------------------------------------------
def serve(path: Path, idle: float = 120.0, preload: tuple[str, ...] = PRELOAD) -> None:
    """Preload ``preload``, then fork one child per connection until ``idle`` seconds pass with no
    connection and no running child. Exits at once when another server holds the socket's lock."""
    lock = open(f"{path}.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop(): leave through the clean-up below
    _preload(preload)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(64)
    logging.warning("persim job server %d: serving %s (preloaded in %.1f s)", os.getpid(), path,
                    time.process_time())
    children: set[int] = set()
    last = time.monotonic()
    try:
        while children or time.monotonic() - last < idle:
            ready, _, _ = select.select([server], [], [], 1.0)
            _reap(children)
            if ready:
                conn, _ = server.accept()
                children.add(_fork_job(server, conn, lock))
                last = time.monotonic()
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        server.close()
    logging.warning("persim job server %d: idle for %.0f s, exiting", os.getpid(), idle)


def stop(root: str | Path) -> bool:
    """Ask the server of ``root`` (if one runs) to exit; returns whether one did. Jobs it is running
    go on to their end; the next job starts a new server."""
    lock_path = Path(f"{socket_path(root)}.lock")
    if not lock_path.exists():
        return False
    with open(lock_path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: a server is alive and its pid is in the file
            lock.seek(0)
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(lock.read().strip()), signal.SIGTERM)
                return True
        return False


def _preload(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a module a job may not need: it imports it itself
            logging.warning("persim job server: preloading %s failed: %s", name, exc)
    sys.stdout.flush()
    sys.stderr.flush()


def _reap(children: set[int]) -> None:
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if not done:
                continue
        children.discard(pid)


def _fork_job(server: socket.socket, conn: socket.socket, lock) -> int:
    """Fork the child that runs one job; returns its pid (the parent keeps serving)."""
    pid = os.fork()
    if pid:
        conn.close()
        return pid
    code = 1
    try:
        server.close()
        lock.close()
        code = _child(conn)
    finally:
        os._exit(code)


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    (n,) = _HEADER.unpack_from(data)
    body = data[_HEADER.size:]
    while len(body) < n:
        chunk = conn.recv(n - len(body))
        if not chunk:
            raise ConnectionError("job request cut short")
        body += chunk
    return json.loads(body), fds


def _child(conn: socket.socket) -> int:
    """Become the job: its stdio, directory, environment and argv; run its script; report the status."""
    req, fds = _recv_request(conn)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    os.environ[SERVED_FLAG] = "1"
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    conn.sendall(f"PID {os.getpid()}\n".encode())
    _exit_when_client_leaves(conn)
    code = _run_script(req["argv"])
    conn.sendall(f"EXIT {code}\n".encode())
    return code


def _exit_when_client_leaves(conn: socket.socket) -> None:
    """A thread that ends this job when the waiting process is gone (killed by Snakemake)."""
    def watch():
        with contextlib.suppress(OSError):
            while conn.recv(1):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


def _run_script(argv: list[str]) -> int:
    """Run ``argv[0]`` as ``__main__`` like ``python argv[0] ...`` would, through interpreter exit
    (atexit handlers, logging shutdown, flushed stdio); returns the exit status."""
    import runpy
    import traceback

    script = os.path.abspath(argv[0])
    sys.argv = list(argv)
    sys.path[0:0] = [os.path.dirname(script)]
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - as the interpreter does: print it, status 1
        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    return code


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--idle", type=float, default=120.0, help="seconds without jobs before exiting")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(message)s")
    preload = os.environ.get(PRELOAD_ENV)
    preload = PRELOAD if preload is None else tuple(m for m in preload.split(",") if m)
    try:
        serve(args.socket, args.idle, preload)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise


if __name__ == "__main__":
    main()
