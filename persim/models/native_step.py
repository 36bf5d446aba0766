"""The fused CPU kernel of PerSim's folded discrete step (``native_step.c``): build, load, call.

:func:`persim.models.folded.folded_step` uses it on CPU float32 when it is available, and the torch
form otherwise (CUDA, no C compiler, ``PERSIM_NATIVE=0``). Both compute the same function; they
differ by float rounding only (tested), so MPC may break a near-tie between candidates differently.

The kernel is compiled once per machine with the C compiler (``$CC``, default ``cc``), flags
:data:`FLAGS` (``-march=native``: the library is built for this CPU; where the compiler refuses the
flag, :data:`PORTABLE_FLAGS`), into ``$PERSIM_NATIVE_CACHE`` (default ``~/.cache/persim-repro/
native``). The file name hashes the source, the compiler's version, the flags and the CPU's model and
feature flags, so a home directory shared by different machines keeps one library per CPU, and an
edited source is rebuilt. Building takes ~0.3 s; concurrent jobs each build to a private temporary
file and rename it into place. A failed build warns once and leaves the torch form in use.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import subprocess
import warnings
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import torch

SOURCE = Path(__file__).with_suffix(".c")
SWITCH = "PERSIM_NATIVE"  # "0" turns the kernel off (the torch form runs)
FLAGS = ["-O3", "-march=native", "-ffp-contract=fast", "-fPIC", "-shared", "-pthread"]
PORTABLE_FLAGS = ["-O3", "-ffp-contract=fast", "-fPIC", "-shared", "-pthread"]
MAX_D, MAX_KD = 16, 64  # state size and actions x state size the kernel handles (native_step.c)

StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cache_dir() -> Path:
    """Folder of the built libraries."""
    if os.environ.get("PERSIM_NATIVE_CACHE"):
        return Path(os.environ["PERSIM_NATIVE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "persim-repro" / "native"


def _cpu_identity() -> str:
    """The CPU's model and feature flags (Linux), else what :mod:`platform` knows."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        keep = [ln for ln in lines if ln.split(":")[0].strip() in ("model name", "flags", "Features")]
        return "\n".join(dict.fromkeys(keep))
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def _compile(cc: list[str], flags: list[str], target: Path) -> None:
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp")
    try:
        subprocess.run([*cc, *flags, "-o", str(tmp), str(SOURCE)], check=True, capture_output=True, text=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def build() -> tuple[Path, str]:
    """Path of the library for this source, compiler and CPU (built if missing) and a description
    (compiler and flags). Raises ``OSError`` / ``subprocess.CalledProcessError`` if it cannot be built."""
    cc = shlex.split(os.environ.get("CC") or "cc")
    version = subprocess.run([*cc, "--version"], check=True, capture_output=True, text=True).stdout
    version = (version.splitlines() or ["?"])[0]
    key = hashlib.sha256("\0".join([SOURCE.read_text(), version, " ".join(FLAGS), _cpu_identity()]).encode())
    target = cache_dir() / f"persim_native_{key.hexdigest()[:16]}.so"
    described = f"{version} {' '.join(FLAGS)}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            _compile(cc, FLAGS, target)
        except subprocess.CalledProcessError:  # e.g. a compiler without -march=native
            _compile(cc, PORTABLE_FLAGS, target)
            described = f"{version} {' '.join(PORTABLE_FLAGS)}"
    return target, described


@lru_cache(maxsize=1)
def _library() -> tuple[ctypes.CDLL | None, str]:
    try:
        path, described = build()
        lib = ctypes.CDLL(str(path))
    except (OSError, subprocess.CalledProcessError) as err:
        detail = getattr(err, "stderr", "") or str(err)
        warnings.warn(f"persim: the fused PerSim MPC kernel could not be built ({detail.strip()[:300]}); "
                      "planning uses the torch form (same results, ~2-3x slower)", RuntimeWarning, stacklevel=3)
        return None, f"unavailable: {type(err).__name__}"
    fn = lib.persim_folded_step
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_int] * 7 + [ctypes.c_void_p] * 6
    return lib, described


def enabled() -> bool:
    """Whether the kernel is switched on (``PERSIM_NATIVE`` is not ``0``)."""
    return os.environ.get(SWITCH, "1").strip() != "0"


@contextmanager
def switched(on: bool) -> Iterator[None]:
    """Within the block, steps built by :func:`persim.models.folded.folded_step` use the kernel
    (``on``, where usable) or the torch form; ``PERSIM_NATIVE`` is restored afterwards."""
    before = os.environ.get(SWITCH)
    os.environ[SWITCH] = "1" if on else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SWITCH, None)
        else:
            os.environ[SWITCH] = before


def usable(device: torch.device | str, obs_dim: int, n_actions: int, dtype: torch.dtype = torch.float32) -> bool:
    """Whether :func:`native_folded_step` serves a ``dtype`` model on ``device`` with these sizes here
    (float32 on CPU, D <= 16, k * D <= 64, switched on, built)."""
    return (enabled() and torch.device(device).type == "cpu" and dtype == torch.float32 and obs_dim <= MAX_D
            and obs_dim * n_actions <= MAX_KD and _library()[0] is not None)


def describe() -> str:
    """What planning's discrete PerSim step runs on this machine (for provenance records)."""
    if not enabled():
        return f"torch form ({SWITCH}=0)"
    lib, described = _library()
    return f"fused C kernel ({described})" if lib is not None else f"torch form (kernel {described})"


def native_folded_step(w1: torch.Tensor, w_eff: torch.Tensor, b_eff: torch.Tensor, n_rows: int) -> StepFn:
    """Step function of the folded model on the fused kernel.

    Args:
        w1: first layer per member, bias as the last input column ``[M, H, D+1]``.
        w_eff: folded output weights per (member, episode) ``[M, E, K*D, H]`` (row ``a*D + d``: Δs_d
            of action ``a``); b_eff: their biases ``[M, E, K*D]``.
        n_rows: candidates per episode, C.

    Returns:
        ``step(states [M, E*C, D], actions [E*C]) -> next states [M, E*C, D]`` (float32, raw units).
    """
    lib = _library()[0]
    if lib is None:
        raise RuntimeError("the fused PerSim MPC kernel is not available here (see native_step.describe())")
    m, e, kd, hidden = w_eff.shape
    d = w1.shape[2] - 1
    w1 = w1.detach().float().contiguous()
    wt = w_eff.detach().float().transpose(2, 3).contiguous()   # [M, E, H, K*D]
    be = b_eff.detach().float().contiguous()

    def step(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if states.shape != (m, e * n_rows, d) or states.dtype != torch.float32 or states.device.type != "cpu":
            raise ValueError(f"native PerSim step: states must be float32 CPU [{m}, {e * n_rows}, {d}], "
                             f"got {states.dtype} {states.device} {list(states.shape)}")
        states = states.contiguous()
        actions = actions.reshape(-1).to(torch.int64).contiguous()
        if actions.numel() != e * n_rows:
            raise ValueError(f"native PerSim step: {actions.numel()} actions for {e * n_rows} rows")
        out = torch.empty_like(states)
        bad = lib.persim_folded_step(m, e, n_rows, d, kd // d, hidden, torch.get_num_threads(),
                                     states.data_ptr(), actions.data_ptr(), w1.data_ptr(), wt.data_ptr(),
                                     be.data_ptr(), out.data_ptr())
        if bad:
            raise ValueError(f"native PerSim step: {bad // m} action(s) outside [0, {kd // d})" if bad > 0
                             else "native PerSim step: shapes outside the kernel's limits")
        return out

    return step
