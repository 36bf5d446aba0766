"""Derived seeds: one base seed from config, a distinct stable seed per (purpose, names...)."""
from __future__ import annotations

import hashlib


def derive_seed(base: int, *keys: object) -> int:
    """Stable 31-bit seed from ``base`` and any keys (same inputs -> same seed, across runs/machines)."""
    blob = "/".join([str(int(base)), *map(str, keys)]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little") & 0x7FFFFFFF
