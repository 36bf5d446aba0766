"""Load a saved d3rlpy policy as a batched ``act(obs [B, D]) -> actions`` callable."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from persim.device import d3rlpy_device


def load_policy(path: str | Path, device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    """Return ``act(obs [B, D]) -> actions [B] (int64) | [B, A] (float32)``, greedy/deterministic."""
    import d3rlpy  # slow import, kept local

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"policy file not found: {path}")
    algo = d3rlpy.load_learnable(str(path), device=d3rlpy_device(device))

    def act(obs: np.ndarray) -> np.ndarray:
        return algo.predict(np.asarray(obs, dtype=np.float32))

    return act
