"""Rank selection by hold-out validation (App. D.1: 20% of transitions, drawn across trajectories,
scored for r in {3, 5, 10, 15, 20, 30})."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from persim.data.schema import OfflineDataset
from persim.models.persim import PerSimConfig, train_persim


def rank_scores(ds: OfflineDataset, n_agents: int, cfg: PerSimConfig, ranks: list[int], seed: int,
                val_fraction: float = 0.2, device: str = "cpu") -> pd.DataFrame:
    """Validation MSE (standardised Δs) per rank: columns rank, val_mse_final, val_mse_best, best_epoch.

    Every rank sees the same split (same seed); training runs on ``device``."""
    rows = []
    for r in ranks:
        _, hist = train_persim(ds, n_agents, replace(cfg, rank=int(r)), seed=seed, device=device,
                               val_fraction=val_fraction)
        val = np.asarray(hist["val_loss"])
        rows.append({"rank": int(r), "val_mse_final": float(val[-1]), "val_mse_best": float(val.min()),
                     "best_epoch": int(val.argmin()) + 1})
    return pd.DataFrame(rows)


def best_rank(scores: pd.DataFrame) -> int:
    """The rank with the lowest final validation MSE (ties: the smaller rank)."""
    ordered = scores.sort_values(["val_mse_final", "rank"])
    return int(ordered["rank"].iloc[0])


def selected_rank(path: str | Path) -> int:
    """The rank marked ``selected`` in a rank-CV table written by rule ``rank_cv``."""
    cv = pd.read_csv(path)
    chosen = cv.loc[cv["selected"].astype(bool), "rank"]
    if len(chosen) != 1:
        raise ValueError(f"{path}: expected exactly one rank marked 'selected', found {len(chosen)}")
    return int(chosen.iloc[0])
