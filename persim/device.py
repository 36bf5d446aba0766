"""Device selection: ``auto`` uses CUDA when present, else the CPU."""
from __future__ import annotations

import torch


def resolve_device(device: str = "auto") -> str:
    """Map ``auto``/``cpu``/``cuda``/``cuda:N`` to a torch device string; error if CUDA is asked but absent."""
    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"config device={device!r} but CUDA is not available on this machine")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"config device must be auto, cpu or cuda[:N], got {device!r}")
    return device


def d3rlpy_device(device: str) -> str:
    """d3rlpy wants ``cpu:0`` / ``cuda:N``."""
    return "cpu:0" if device == "cpu" else (device if ":" in device else f"{device}:0")
