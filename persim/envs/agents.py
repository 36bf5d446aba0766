"""The agents of an experiment: covariate vectors sampled from Table 4's ranges.

Agent ids 0-4 are the five test agents of Table 4 in the paper's order (paper agents 1-5); ids
5..N-1 are drawn uniformly from the covariate box with a seeded generator. Each agent is assigned
the logging policy of the nearest policy-training agent in normalised covariate distance.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from persim.envs.specs import EnvSpec

N_TEST_AGENTS = 5


def sample_agents(spec: EnvSpec, n_agents: int, seed: int) -> pd.DataFrame:
    """Table of ``n_agents`` agents.

    Returns a DataFrame with columns ``agent_id`` (int64), ``test_agent`` (int64: paper agent number
    1-5, 0 for training-only agents), one float64 column per covariate, ``logging_policy`` (str,
    ``logging<k>``) and ``policy_distance`` (float64, normalised distance to that policy's agent).
    """
    if n_agents < N_TEST_AGENTS:
        raise ValueError(f"agents.n_agents must be >= {N_TEST_AGENTS} (the test agents), got {n_agents}")
    rng = np.random.default_rng(seed)
    test = np.asarray(spec.test_agents, dtype=np.float64)
    drawn = rng.uniform(spec.low, spec.high, size=(n_agents - N_TEST_AGENTS, spec.n_covariates))
    cov = np.concatenate([test, drawn], axis=0)
    k, dist = nearest_policy_agent(spec, cov)
    table = pd.DataFrame({"agent_id": np.arange(n_agents, dtype=np.int64)})
    table["test_agent"] = np.concatenate([np.arange(1, N_TEST_AGENTS + 1), np.zeros(n_agents - N_TEST_AGENTS)]).astype(np.int64)
    for j, name in enumerate(spec.covariates):
        table[name] = cov[:, j]
    table["logging_policy"] = [f"logging{i}" for i in k]
    table["policy_distance"] = dist
    return table


def nearest_policy_agent(spec: EnvSpec, covariates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index ``[N]`` of the nearest policy-training agent and the distance ``[N]`` (unit-box scaled)."""
    a = spec.normalize(covariates)[:, None, :]
    b = spec.normalize(np.asarray(spec.policy_agents))[None, :, :]
    d = np.linalg.norm(a - b, axis=-1)
    return d.argmin(axis=1), d.min(axis=1)


def covariate_matrix(spec: EnvSpec, table: pd.DataFrame) -> np.ndarray:
    """Covariates ``[N, C]`` of an agents table, in the spec's column order."""
    missing = [c for c in spec.covariates if c not in table.columns]
    if missing:
        raise KeyError(f"agents table for {spec.name} lacks covariate columns {missing}")
    return table[list(spec.covariates)].to_numpy(dtype=np.float64)
