"""Argument checks shared by the project's command-line tools (``python -m persim.<tool>``): argparse
``type=`` functions that turn a bad value into a usage error quoting it, and checks run before any work
(a device this machine lacks, an output file that could not be written)."""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Callable


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type=``: an integer no smaller than ``minimum``; anything else is a usage error
    that quotes the value (``--cores 0``, ``--threads -1``)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            want = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise argparse.ArgumentTypeError(f"must be {want}, got {value}")
        return value

    parse.__name__ = "positive int" if minimum == 1 else f"int >= {minimum}"
    return parse


def device_name(text: str) -> str:
    """An argparse ``type=``: ``cpu``, ``cuda`` or ``cuda:N``, the devices the kernels here run on."""
    if text == "cpu" or re.fullmatch(r"cuda(:\d+)?", text):
        return text
    raise argparse.ArgumentTypeError(f"must be cpu, cuda or cuda:N, got {text!r}")


def device_problem(device: str) -> str | None:
    """Why ``device`` (a :func:`device_name`) cannot run on this machine (no CUDA, no such GPU), or None."""
    if not device.startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():
        return f"--device {device} but torch sees no CUDA device"
    index, count = int(device.partition(":")[2] or 0), torch.cuda.device_count()
    return f"--device {device} but torch sees {count} CUDA device(s) (cuda:0 ...)" if index >= count else None


def output_file_problem(option: str, path: str | None) -> str | None:
    """Why ``path`` (the value of ``option``, e.g. ``--json``) cannot be written: its folder is missing or
    it is a folder; None if it can (or no path is given). Checked before the work, not after it."""
    if not path:
        return None
    target = Path(path)
    if target.is_dir():
        return f"{option} {path}: is a folder, not a file"
    if not target.parent.is_dir():
        return f"{option} {path}: folder {target.parent} does not exist (create it first)"
    return None
