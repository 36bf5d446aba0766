"""The offline-dataset format: one Parquet row per transition, one trajectory per agent.

Columns (D = observation size, A = action size, C = covariates of the env):

==================  =========  =====================================================
``agent_id``        int64      id in the env's agents table (0-4 = test agents 1-5)
covariate columns   float64    e.g. ``gravity`` or ``force``, ``length``
``t``               int64      step within the trajectory, from 0
``obs_0..obs_{D-1}``  float32  observation before the step
``action``          int64      discrete envs; continuous envs have ``action_0..`` float32
``reward``          float64    reward of the step
``next_obs_0..``    float32    observation after the step
``terminated``      bool       episode ended by the MDP
``truncated``       bool       episode ended by the time limit
==================  =========  =====================================================

Other columns (your annotations) are allowed and not loaded; ``obs_i``, ``next_obs_i`` or ``action_i``
columns beyond the env's D and A are refused, as is a covariate that changes within an agent's rows.

File metadata key ``persim`` holds JSON: env, behaviour, epsilon, seed, settings, settings hash,
package versions, git commit (see :mod:`persim.provenance`).
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from persim.data.rollout import Transitions
from persim.envs import SPECS, EnvSpec, get_spec
from persim.envs.specs import STEP_COLUMN

META_KEY = b"persim"


class _SpecField(Mapping[str, int]):
    """Env name -> one integer field of its :class:`EnvSpec` (``field``: ``"obs_dim"`` D,
    ``"action_dim"`` A or ``"n_actions"``), read live from ``SPECS`` (so an env registered after
    import, ``persim.envs.register_env``, is known too)."""

    def __init__(self, field: str):
        self.field: str = field

    def __getitem__(self, env: str) -> int:
        if env not in SPECS:
            raise KeyError(env)
        return getattr(SPECS[env], self.field)

    def __iter__(self) -> Iterator[str]:
        return iter(list(SPECS))

    def __len__(self) -> int:
        return len(SPECS)


# per-env views of the EnvSpec facts the schema and the models use
OBS_DIMS = _SpecField("obs_dim")
ACTION_DIMS = _SpecField("action_dim")  # 0 = one discrete column
N_ACTIONS = _SpecField("n_actions")  # 0 = continuous


class DatasetError(ValueError):
    """A dataset file violates the schema; the message names the file and the column."""


def expected_columns(env: str) -> dict[str, str]:
    """Column name -> numpy dtype name for ``env``'s dataset."""
    spec = get_spec(env)
    d, a = OBS_DIMS[env], ACTION_DIMS[env]
    cols: dict[str, str] = {"agent_id": "int64"}
    cols.update({c: "float64" for c in spec.covariates})
    cols["t"] = "int64"
    cols.update({f"obs_{i}": "float32" for i in range(d)})
    cols.update({"action": "int64"} if a == 0 else {f"action_{i}": "float32" for i in range(a)})
    cols["reward"] = "float64"
    cols.update({f"next_obs_{i}": "float32" for i in range(d)})
    cols.update({"terminated": "bool", "truncated": "bool"})
    return cols


def to_frame(spec: EnvSpec, agent_ids: np.ndarray, covariates: np.ndarray, tr: Transitions) -> pd.DataFrame:
    """Flat DataFrame in the dataset schema from lock-step transitions (episode i = agent_ids[i])."""
    cols: dict[str, np.ndarray] = {"agent_id": agent_ids[tr.episode].astype(np.int64)}
    for j, name in enumerate(spec.covariates):
        cols[name] = covariates[tr.episode, j].astype(np.float64)
    cols["t"] = tr.t.astype(np.int64)
    cols.update({f"obs_{i}": tr.obs[:, i].astype(np.float32) for i in range(tr.obs.shape[1])})
    if tr.actions.ndim == 1:
        cols["action"] = tr.actions.astype(np.int64)
    else:
        cols.update({f"action_{i}": tr.actions[:, i].astype(np.float32) for i in range(tr.actions.shape[1])})
    cols["reward"] = tr.rewards.astype(np.float64)
    cols.update({f"next_obs_{i}": tr.next_obs[:, i].astype(np.float32) for i in range(tr.next_obs.shape[1])})
    cols["terminated"] = tr.terminated.astype(bool)
    cols["truncated"] = tr.truncated.astype(bool)
    return pd.DataFrame(cols)


def write_dataset(frame: pd.DataFrame, path: str | Path, meta: dict[str, Any]) -> None:
    """Write ``frame`` to Parquet with ``meta`` (must include ``env``) under the ``persim`` key."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta, default=str)})
    pq.write_table(table, str(path), compression="zstd", write_page_checksum=True)  # verified on read


@dataclass
class OfflineDataset:
    """A validated offline dataset as arrays (T transitions, N agents).

    agent_ids: [T] int64; covariates: [T, C] float64; t: [T] int64; obs, next_obs: [T, D] float32;
    actions: [T] int64 or [T, A] float32; rewards: [T] float64; terminated, truncated: [T] bool.
    """

    env: str
    path: str
    meta: dict[str, Any]
    agent_ids: np.ndarray
    covariates: np.ndarray
    t: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray

    @property
    def n_transitions(self) -> int:
        return len(self.t)

    def returns(self) -> pd.Series:
        """Return of each agent's trajectory, indexed by agent id."""
        return pd.Series(self.rewards).groupby(self.agent_ids).sum()

    def lengths(self) -> pd.Series:
        """Transitions in each agent's trajectory, indexed by agent id."""
        return pd.Series(self.t).groupby(self.agent_ids).size()


def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``persim`` metadata of a dataset file (DatasetError if absent or unreadable)."""
    try:
        schema = pq.read_schema(str(path))
    except (OSError, pa.ArrowInvalid) as exc:
        raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from exc
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise DatasetError(f"{path}: no 'persim' metadata; not a persim dataset")
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: its 'persim' metadata is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: its 'persim' metadata is not a JSON object")
    return meta


def read_table(path: str | Path) -> pd.DataFrame:
    """The file's rows, every data page checked against its CRC checksum (written by
    :func:`write_dataset`): a damaged file raises DatasetError instead of loading altered values."""
    try:
        return pq.read_table(str(path), page_checksum_verification=True).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"{path}: damaged file, a data page does not match its checksum or cannot be "
                           f"decoded ({exc}); delete it and rerun the rule that writes it") from exc


def load_dataset(path: str | Path, env: str | None = None, n_agents: int | None = None) -> OfflineDataset:
    """Read and validate a dataset.

    Raises :class:`DatasetError` naming the file and the offending column for: a damaged file (page
    checksums), metadata that is not JSON, a file of another env than ``env``, a missing column, a
    wrong dtype, a NaN/inf (or a missing value in an int or bool column), an ``obs_i`` /
    ``next_obs_i`` / ``action_i`` column beyond the env's dimensions, a covariate that changes within
    an agent's rows, an action outside the env's action space, an ``agent_id`` outside
    ``0 .. n_agents - 1`` (the agents table's ids; only >= 0 when ``n_agents`` is None: pass
    ``n_agents=len(agents)`` where the agents table is at hand, as training sizes its agent one-hot
    by it), a trajectory whose ``t`` does not start at 0 or is not consecutive.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: dataset file does not exist")
    meta = read_meta(path)
    file_env = meta.get("env")
    if env is not None and file_env != env:
        raise DatasetError(f"{path}: dataset is for env {file_env!r}, expected {env!r}")
    if file_env not in OBS_DIMS:
        raise DatasetError(f"{path}: metadata names unknown env {file_env!r}")
    frame = read_table(path)
    _validate(frame, file_env, path)
    _check_ranges(frame, file_env, path, n_agents)
    return dataset_from_frame(frame, file_env, str(path), meta)


def dataset_from_frame(frame: pd.DataFrame, env: str, path: str = "<memory>",
                       meta: dict[str, Any] | None = None) -> OfflineDataset:
    """An :class:`OfflineDataset` of ``env`` from a frame in the dataset schema (not validated: see
    :func:`load_dataset`). Arrays are copies, writable (pandas' column views are read-only)."""
    spec, d, a = get_spec(env), OBS_DIMS[env], ACTION_DIMS[env]

    def cols(names: str | list[str]) -> np.ndarray:
        return frame[names].to_numpy(copy=True)

    return OfflineDataset(
        env=env, path=path, meta=meta or {},
        agent_ids=cols("agent_id"), covariates=cols(list(spec.covariates)), t=cols("t"),
        obs=cols([f"obs_{i}" for i in range(d)]),
        actions=cols("action") if a == 0 else cols([f"action_{i}" for i in range(a)]),
        rewards=cols("reward"), next_obs=cols([f"next_obs_{i}" for i in range(d)]),
        terminated=cols("terminated"), truncated=cols("truncated"),
    )


def _validate(frame: pd.DataFrame, env: str, path: Path) -> None:
    for col, dtype in expected_columns(env).items():
        if col not in frame.columns:
            raise DatasetError(f"{path}: missing column {col!r} (env {env})")
        if not dtype.startswith("float"):
            _check_complete(frame[col], dtype, path)
        if str(frame[col].dtype) != dtype:
            raise DatasetError(f"{path}: column {col!r} has dtype {frame[col].dtype}, expected {dtype}")
        if dtype.startswith("float") and not np.isfinite(frame[col].to_numpy()).all():
            raise DatasetError(f"{path}: column {col!r} contains NaN or inf")
    _check_unexpected(frame, env, path)
    if len(frame) == 0:
        raise DatasetError(f"{path}: dataset has no rows")
    _check_covariates(frame, env, path)
    # within an agent, t counts up by 1; it may restart at 0 only after a row that ended an episode
    # (an agent with several episodes: synthetic trajectories, persim.augmentation)
    by_agent = frame.groupby("agent_id", sort=False)
    steps = by_agent["t"].diff()
    ended_before = by_agent["terminated"].shift().astype("boolean") | by_agent["truncated"].shift().astype("boolean")
    restart = (frame["t"] == 0) & ended_before.fillna(False).astype(bool)
    if (steps.notna() & (steps != 1) & ~restart).any():
        raise DatasetError(f"{path}: column 't' is not consecutive within each agent's trajectory")
    first = frame.groupby("agent_id", sort=False)["t"].min()
    if (first != 0).any():
        bad = first[first != 0]
        raise DatasetError(f"{path}: column 't' must start at 0 in every trajectory; agent {bad.index[0]} starts at "
                           f"{bad.iloc[0]}")


def _check_complete(column: pd.Series, dtype: str, path: Path) -> None:
    """An int or bool column ``[T]`` without missing values: pandas reads an int64 column with nulls as
    float64 (or Int64), a bool one as object (or boolean); name the column and the first row."""
    missing = column.isna().to_numpy()
    if missing.any():
        raise DatasetError(f"{path}: column {column.name!r} has {int(missing.sum())} missing value(s) (NaN/null), "
                           f"the first in row {int(missing.argmax())}; {dtype} columns cannot hold missing values")


def _check_unexpected(frame: pd.DataFrame, env: str, path: Path) -> None:
    """No ``obs_i`` / ``next_obs_i`` / ``action_i`` column beyond the spec's D and A: data with more
    dimensions than the registered spec would otherwise load with the extra ones silently dropped."""
    expected = expected_columns(env)
    extra = [c for c in frame.columns if isinstance(c, str) and STEP_COLUMN.fullmatch(c) and c not in expected]
    if extra:
        spec = get_spec(env)
        actions = (f"{spec.n_actions} discrete actions (one 'action' column)" if spec.discrete
                   else f"action_dim A={spec.action_dim} (action_0..action_{spec.action_dim - 1})")
        raise DatasetError(f"{path}: unexpected columns {extra}: env {env!r} has obs_dim D={spec.obs_dim} "
                           f"(obs_0..obs_{spec.obs_dim - 1}, next_obs_0..next_obs_{spec.obs_dim - 1}) and {actions}; "
                           "register the env with the data's dimensions, or drop or rename these columns")


def _check_covariates(frame: pd.DataFrame, env: str, path: Path) -> None:
    """Each agent's covariates ``[C]`` are one value over all its rows: they describe the agent."""
    covariates = list(get_spec(env).covariates)
    if not covariates:
        return
    varying = frame.groupby("agent_id", sort=True)[covariates].nunique() > 1  # [N, C]
    for col in covariates:
        if varying[col].any():
            agent = varying.index[varying[col].to_numpy()][0]
            values = frame.loc[frame["agent_id"] == agent, col].unique()
            raise DatasetError(f"{path}: covariate column {col!r} changes within agent {agent}'s rows (values "
                               f"{values[:3].tolist()}{' ...' if len(values) > 3 else ''}); a covariate describes "
                               f"the agent, so it must be constant over the agent's rows")


def _check_ranges(frame: pd.DataFrame, env: str, path: Path, n_agents: int | None) -> None:
    """Actions inside the env's action space, agent ids inside the agents table."""
    spec = get_spec(env)
    if spec.discrete:
        a = frame["action"].to_numpy()
        if len(a) and (a.min() < 0 or a.max() >= spec.n_actions):
            raise DatasetError(f"{path}: column 'action' holds {a.min() if a.min() < 0 else a.max()}, outside "
                               f"{env}'s actions 0..{spec.n_actions - 1}")
    else:
        for i, (low, high) in enumerate(zip(spec.action_low, spec.action_high)):
            a = frame[f"action_{i}"].to_numpy()
            if len(a) and (a.min() < low - 1e-6 or a.max() > high + 1e-6):
                raise DatasetError(f"{path}: column 'action_{i}' holds values in [{a.min():g}, {a.max():g}], outside "
                                   f"{env}'s action bounds [{low:g}, {high:g}]")
    ids = frame["agent_id"].to_numpy()
    upper = f" or >= {n_agents} (the agents table's size)" if n_agents is not None else ""
    if len(ids) and (ids.min() < 0 or (n_agents is not None and ids.max() >= n_agents)):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise DatasetError(f"{path}: column 'agent_id' holds {bad}: agent ids must not be negative{upper}")
