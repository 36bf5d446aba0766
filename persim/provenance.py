"""Where did an output come from: settings, their hash, seed, code version, packages, device."""
from __future__ import annotations

import hashlib
import json
import platform
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("persim-repro", "torch", "numpy", "pandas", "pyarrow", "gymnasium", "mujoco", "d3rlpy", "snakemake")


def settings_hash(settings: Any) -> str:
    """Stable 16-hex-digit hash of a JSON-serialisable settings object (key order ignored)."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape results (None if absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(repo: str | Path = ".") -> dict[str, Any]:
    """Commit hash and dirty flag of the git checkout at ``repo`` (None when not a checkout)."""
    def _git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def record(settings: Any, seed: int | None, rule: str, device: str = "cpu", wall_time_s: float | None = None,
           **extra: Any) -> dict[str, Any]:
    """Provenance record attached to every output (Parquet metadata or a JSON sidecar)."""
    return {
        "rule": rule,
        "settings": settings,
        "settings_hash": settings_hash(settings),
        "seed": seed,
        "git": git_state(),
        "versions": package_versions(),
        "device": device,
        "host": socket.gethostname(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_time_s": wall_time_s,
        **extra,
    }


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sidecar_path(path: str | Path) -> Path:
    return Path(str(path) + ".meta.json")


def write_sidecar(path: str | Path, prov: dict[str, Any]) -> Path:
    """Write ``prov`` and the content hash of ``path`` (``sha256``, ``bytes``; what
    ``python -m persim.verify`` checks) next to ``path`` as ``<path>.meta.json``; return its path."""
    side = sidecar_path(path)
    record = {**prov, "sha256": file_sha256(path), "bytes": Path(path).stat().st_size}
    side.write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    return side
