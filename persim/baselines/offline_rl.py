"""BCQ and CQL baselines (paper §5.1, App. E.3) trained offline with d3rlpy 2.8.

Discrete BCQ / CQL for MountainCar and CartPole, continuous BCQ / CQL for HalfCheetah.
"-P": one policy trained on every agent's trajectory (key ``"all"``); "-A": one policy per test
agent trained on that agent's single trajectory (key = agent id). The policies of one method are
stored together in one :class:`~persim.baselines.policy_set.PolicySet` file.

d3rlpy pitfalls handled here, each on purpose:

* ``fit`` trains ``n_steps // n_steps_per_epoch`` whole epochs (0 if the epoch is longer than the
  budget): :func:`epoch_plan` splits the budget into whole epochs plus one shorter final epoch, so
  exactly ``n_steps`` updates are made.
* Discrete algorithms copy the target network every ``target_update_interval`` updates (d3rlpy
  default 8000): the interval is capped so that a short budget still gets ``min_target_updates``
  copies (:meth:`OfflineRLConfig.effective_target_update_interval`).
* d3rlpy drops the last transition of an episode that ends by time-out (no next observation): the
  dataset appends that next observation as an extra row flagged ``timeout`` (:func:`to_mdp_dataset`).
* Action space and size are passed explicitly, never guessed from the data; continuous actions are
  scaled from the env's action box (``[-1, 1]`` for HalfCheetah) with a min-max scaler.
* No files: metrics go to the ``persim`` logger through :class:`PersimLoggerAdapterFactory` (per
  epoch, with ETA), ``show_progress=False``, and models are never saved during training.
"""
from __future__ import annotations

import io
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from persim.baselines.batch_sampling import use_batched_sampling
from persim.baselines.policy_set import PolicySet, scoped_test_agents, train_policy_set
from persim.data.schema import ACTION_DIMS, N_ACTIONS, OfflineDataset
from persim.device import d3rlpy_device
from persim.d3rlpy_logging import PersimLoggerAdapterFactory, plain_d3rlpy_logs
from persim.guards import check_rate, data_label
from persim.progress import Progress

LOG = logging.getLogger("persim")
# Cost model (persim.cost): work grows with the update count ("step": a fixed number, not data passes)
WORK_FIELDS = {"n_steps": "step"}
CALIBRATION_SETTINGS: dict[str, Any] = {}
ALGOS = ("bcq", "cql")


# ----------------------------------------------------------------------------------------------
# configuration


@dataclass
class OfflineRLConfig:
    """BCQ / CQL hyper-parameters (YAML keys of ``baselines.bcq`` / ``baselines.cql``).

    The dataclass defaults are the paper's discrete CQL; :meth:`for_env` applies the defaults of
    the algorithm and action space (:data:`PAPER_DEFAULTS`). Fields an algorithm does not use are
    ignored by it.

    Common: ``algo`` (``bcq``|``cql``), ``n_steps`` gradient updates (paper 5.5e5),
    ``n_steps_per_epoch`` (one log line per epoch), ``batch_size``, ``gamma``, ``hidden_units`` of
    every Q / actor network, ``observation_scaler`` (``standard``: mean/std of the training
    observations, or ``none``), ``n_critics``.
    Discrete (DiscreteBCQ / DiscreteCQL): ``learning_rate``, ``target_update_interval`` (updates
    between target copies, capped so that at least ``min_target_updates`` copies happen), CQL's
    ``alpha`` (conservative loss weight), BCQ's ``action_flexibility`` (threshold on the imitation
    ratio) and ``beta`` (imitation-logit penalty).
    Continuous (BCQ / CQL): ``actor_learning_rate``, ``critic_learning_rate``, ``tau`` (Polyak
    rate of the targets), ``n_action_samples``. CQL: ``conservative_weight``,
    ``lagrange_threshold`` (d3rlpy ``alpha_threshold``), ``lagrange_learning_rate`` (0 = fixed
    ``initial_alpha``), ``initial_alpha``, ``temp_learning_rate``, ``initial_temperature``.
    BCQ: ``imitator_learning_rate``, ``imitator_hidden_units`` (the VAE), ``lam``,
    ``action_flexibility`` (perturbation scale), ``beta`` (KL weight of the VAE).
    """

    algo: str = "cql"
    n_steps: int = 550_000
    n_steps_per_epoch: int = 10_000
    batch_size: int = 512
    gamma: float = 0.99
    hidden_units: list[int] = field(default_factory=lambda: [256, 256])
    observation_scaler: str = "standard"
    n_critics: int = 3
    # discrete
    learning_rate: float = 1e-4
    target_update_interval: int = 8000
    min_target_updates: int = 10
    alpha: float = 1.0
    action_flexibility: float = 0.3
    beta: float = 0.01
    # continuous
    actor_learning_rate: float = 3e-5
    critic_learning_rate: float = 3e-4
    tau: float = 0.005
    n_action_samples: int = 10
    conservative_weight: float = 5.0
    lagrange_threshold: float = 5.0
    lagrange_learning_rate: float = 1e-4
    initial_alpha: float = 1.0
    temp_learning_rate: float = 1e-4
    initial_temperature: float = 1.0
    imitator_learning_rate: float = 1e-3
    imitator_hidden_units: list[int] = field(default_factory=lambda: [750, 750])
    lam: float = 0.75

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"offline_rl.algo must be one of {ALGOS}, got {self.algo!r}")
        for key in ("n_steps", "n_steps_per_epoch", "batch_size", "n_critics", "target_update_interval",
                    "min_target_updates", "n_action_samples"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{self.algo}.{key} must be an integer >= 1, got {value!r}")
        for key in ("learning_rate", "actor_learning_rate", "critic_learning_rate", "imitator_learning_rate"):
            check_rate(f"{self.algo}.{key}", getattr(self, key))
        for key in ("initial_alpha", "initial_temperature"):
            if not float(getattr(self, key)) > 0:
                raise ValueError(f"{self.algo}.{key} must be > 0, got {getattr(self, key)}")
        for key in ("alpha", "beta", "conservative_weight", "lagrange_learning_rate", "temp_learning_rate"):
            if not float(getattr(self, key)) >= 0:
                raise ValueError(f"{self.algo}.{key} must be >= 0, got {getattr(self, key)}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"{self.algo}.gamma must be in (0, 1], got {self.gamma}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"{self.algo}.tau must be in (0, 1], got {self.tau}")
        if not 0.0 <= self.action_flexibility < 1.0:
            raise ValueError(f"{self.algo}.action_flexibility must be in [0, 1), got {self.action_flexibility}")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"{self.algo}.lam must be in [0, 1], got {self.lam}")
        for key in ("hidden_units", "imitator_hidden_units"):
            units = getattr(self, key)
            if not isinstance(units, (list, tuple)) or not units or min(int(u) for u in units) < 1:
                raise ValueError(f"{self.algo}.{key} must be a non-empty list of positive sizes, got {units!r}")
            setattr(self, key, [int(u) for u in units])
        if self.observation_scaler not in ("standard", "none"):
            raise ValueError(f"{self.algo}.observation_scaler must be 'standard' or 'none', "
                             f"got {self.observation_scaler!r}")

    def effective_target_update_interval(self) -> int:
        """``target_update_interval`` capped at ``n_steps // min_target_updates`` (>= 1)."""
        return max(1, min(self.target_update_interval, self.n_steps // self.min_target_updates))

    @classmethod
    def for_env(cls, env: str, algo: str, **overrides: Any) -> "OfflineRLConfig":
        """Paper defaults of ``algo`` for ``env``'s action space, updated with ``overrides``."""
        if env not in N_ACTIONS:
            raise KeyError(f"offline_rl: unknown env {env!r}; expected one of {list(N_ACTIONS)}")
        if algo not in ALGOS:
            raise ValueError(f"offline_rl.algo must be one of {ALGOS}, got {algo!r}")
        known = {f.name for f in fields(cls)} - {"algo"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"{algo}: unknown config keys {unknown}; known: {sorted(known)}")
        kind = "discrete" if N_ACTIONS[env] > 0 else "continuous"
        return cls(algo=algo, **{**PAPER_DEFAULTS[(algo, kind)], **overrides})


PAPER_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    # App. E.3: n_critics 3, alpha 1, batch 512, lr 1e-4 (= the dataclass defaults).
    ("cql", "discrete"): {},
    # App. E.3: Lagrange threshold 5, actor lr 3e-5, critic lr 3e-4; the rest follows the CQL
    # authors' continuous setting (3 x 256 networks, batch 256, 2 critics, 10 action samples).
    ("cql", "continuous"): {"batch_size": 256, "n_critics": 2, "hidden_units": [256, 256, 256]},
    # Fujimoto et al.'s discrete BCQ (non-Atari): 2 x 256, Adam 3e-4, batch 64, threshold 0.3,
    # logit penalty 1e-2, Polyak tau 0.005 -> a hard target copy every 1 / tau = 200 updates.
    ("bcq", "discrete"): {"batch_size": 64, "learning_rate": 3e-4, "n_critics": 1,
                          "target_update_interval": 200, "action_flexibility": 0.3, "beta": 0.01},
    # Fujimoto et al.'s continuous BCQ: actor/critic 400-300, VAE 750-750, Adam 1e-3, batch 100,
    # lambda 0.75, phi 0.05, KL weight 0.5.
    ("bcq", "continuous"): {"batch_size": 100, "actor_learning_rate": 1e-3, "critic_learning_rate": 1e-3,
                            "imitator_learning_rate": 1e-3, "n_critics": 2, "hidden_units": [400, 300],
                            "imitator_hidden_units": [750, 750], "action_flexibility": 0.05, "beta": 0.5,
                            "lam": 0.75, "n_action_samples": 100},
}


def for_env(env: str, algo: str, **overrides: Any) -> OfflineRLConfig:
    """Alias of :meth:`OfflineRLConfig.for_env`."""
    return OfflineRLConfig.for_env(env, algo, **overrides)


# ----------------------------------------------------------------------------------------------
# dataset


def _rows(ds: OfflineDataset, agent_ids: Sequence[int] | None) -> np.ndarray:
    """Row indices ``[T']`` of the chosen agents, grouped by agent (stable: file order within one)."""
    if agent_ids is None:
        idx = np.arange(ds.n_transitions)
    else:
        wanted = np.asarray(list(agent_ids), dtype=np.int64)
        missing = sorted(set(wanted.tolist()) - set(np.unique(ds.agent_ids).tolist()))
        if missing:
            raise KeyError(f"{ds.path}: agents {missing} have no transitions in the dataset")
        idx = np.flatnonzero(np.isin(ds.agent_ids, wanted))
    # grouped by agent, file order within an agent (episodes in time order, as datasets are written;
    # an agent may hold several episodes, each starting at t = 0)
    return idx[np.argsort(ds.agent_ids[idx], kind="stable")]


def to_mdp_dataset(ds: OfflineDataset, agent_ids: Sequence[int] | None = None):
    """The d3rlpy ``MDPDataset`` of the chosen agents' trajectories (all agents if ``None``).

    Every recorded transition is kept: an episode that ended by termination has ``terminal`` on its
    last row; any other episode (time-out) gets its final ``next_obs`` appended as an extra row with
    ``timeout`` set (action = the last action, reward 0; neither is ever trained on), so d3rlpy's
    ``transition_count`` equals the number of dataset rows. Action space and size come from the
    schema (``N_ACTIONS`` / ``ACTION_DIMS``), not from the data.
    """
    import d3rlpy
    from d3rlpy.constants import ActionSpace

    idx = _rows(ds, agent_ids)
    agents = ds.agent_ids[idx]
    t = ds.t[idx]
    # [T'] last row of each trajectory: the agent changes, or t restarts (an agent with several
    # episodes, e.g. its own plus synthetic ones: persim.augmentation.concat_datasets)
    last = np.append((agents[1:] != agents[:-1]) | (t[1:] <= t[:-1]), True)
    ended = ds.terminated[idx] | ds.truncated[idx]
    if np.any(ended & ~last):
        bad = sorted(set(agents[ended & ~last].tolist()))
        raise ValueError(f"{ds.path}: agents {bad} have terminated/truncated rows before their last one")
    chained = np.allclose(ds.next_obs[idx][~last], ds.obs[idx][1:][~last[:-1]], atol=1e-6)
    if not chained:
        raise ValueError(f"{ds.path}: next_obs(t) != obs(t+1) within a trajectory; rows are not whole episodes in time order")
    timeout_end = last & ~ds.terminated[idx]  # [T'] episodes without a terminal next state
    pos = np.arange(len(idx)) + np.concatenate([[0], np.cumsum(timeout_end)[:-1]])  # row -> output row
    n_out = len(idx) + int(timeout_end.sum())
    extra = pos[timeout_end] + 1

    obs = np.empty((n_out, ds.obs.shape[1]), np.float32)
    obs[pos], obs[extra] = ds.obs[idx], ds.next_obs[idx][timeout_end]
    actions = np.empty((n_out, *ds.actions.shape[1:]), ds.actions.dtype)
    actions[pos], actions[extra] = ds.actions[idx], ds.actions[idx][timeout_end]
    rewards = np.zeros((n_out, 1), np.float32)
    rewards[pos, 0] = ds.rewards[idx]
    terminals = np.zeros(n_out, np.float32)
    terminals[pos] = (last & ds.terminated[idx]).astype(np.float32)
    timeouts = np.zeros(n_out, np.float32)
    timeouts[extra] = 1.0

    discrete = N_ACTIONS[ds.env] > 0
    return d3rlpy.dataset.MDPDataset(
        observations=obs, actions=actions, rewards=rewards, terminals=terminals, timeouts=timeouts,
        action_space=ActionSpace.DISCRETE if discrete else ActionSpace.CONTINUOUS,
        action_size=N_ACTIONS[ds.env] if discrete else ACTION_DIMS[ds.env],
    )


# ----------------------------------------------------------------------------------------------
# training


def epoch_plan(n_steps: int, n_steps_per_epoch: int) -> list[tuple[int, int]]:
    """``[(n_epochs, steps_per_epoch), ...]`` fit calls that make exactly ``n_steps`` updates.

    ``n_steps_per_epoch`` is clipped to ``n_steps`` (d3rlpy would otherwise train 0 epochs); a
    remainder becomes one shorter final epoch.
    """
    per_epoch = min(n_steps_per_epoch, n_steps)
    whole, rest = divmod(n_steps, per_epoch)
    return [(whole, per_epoch)] + ([(1, rest)] if rest else [])


def _observation_scaler(cfg: OfflineRLConfig, dataset):
    """d3rlpy ``StandardObservationScaler`` from the training observations (vectorised), or None."""
    from d3rlpy.preprocessing import StandardObservationScaler

    if cfg.observation_scaler == "none":
        return None
    obs = np.concatenate([ep.observations[: ep.transition_count] for ep in dataset.episodes])  # [T, D]
    return StandardObservationScaler(mean=obs.mean(axis=0), std=obs.std(axis=0))


def _action_scaler(env: str):
    """Min-max scaler of the env's continuous action box, from its spec (HalfCheetah: [-1, 1]^6; an env
    registered without a gymnasium env has one too)."""
    from d3rlpy.preprocessing import MinMaxActionScaler

    from persim.envs import get_spec

    spec = get_spec(env)
    return MinMaxActionScaler(minimum=np.asarray(spec.action_low, np.float32),
                              maximum=np.asarray(spec.action_high, np.float32))


def build_algo(env: str, cfg: OfflineRLConfig, dataset, device: str = "cpu"):
    """The untrained d3rlpy algorithm for ``env``'s action space (discrete or continuous)."""
    import d3rlpy
    from d3rlpy.models.encoders import VectorEncoderFactory

    enc = VectorEncoderFactory(hidden_units=list(cfg.hidden_units))
    common = dict(batch_size=cfg.batch_size, gamma=cfg.gamma, observation_scaler=_observation_scaler(cfg, dataset))
    discrete = N_ACTIONS[env] > 0
    if discrete:
        discrete_common = dict(common, learning_rate=cfg.learning_rate, encoder_factory=enc, n_critics=cfg.n_critics,
                               target_update_interval=cfg.effective_target_update_interval())
        if cfg.algo == "cql":
            config = d3rlpy.algos.DiscreteCQLConfig(alpha=cfg.alpha, **discrete_common)
        else:  # separate Q and imitation networks, as in Fujimoto et al.'s FC_Q
            config = d3rlpy.algos.DiscreteBCQConfig(action_flexibility=cfg.action_flexibility, beta=cfg.beta,
                                                    share_encoder=False, **discrete_common)
    else:
        cont_common = dict(common, action_scaler=_action_scaler(env), actor_learning_rate=cfg.actor_learning_rate,
                           critic_learning_rate=cfg.critic_learning_rate, actor_encoder_factory=enc,
                           critic_encoder_factory=enc, tau=cfg.tau, n_critics=cfg.n_critics,
                           n_action_samples=cfg.n_action_samples)
        if cfg.algo == "cql":
            config = d3rlpy.algos.CQLConfig(
                conservative_weight=cfg.conservative_weight, alpha_threshold=cfg.lagrange_threshold,
                alpha_learning_rate=cfg.lagrange_learning_rate, initial_alpha=cfg.initial_alpha,
                temp_learning_rate=cfg.temp_learning_rate, initial_temperature=cfg.initial_temperature, **cont_common)
        else:
            config = d3rlpy.algos.BCQConfig(
                imitator_learning_rate=cfg.imitator_learning_rate, lam=cfg.lam, beta=cfg.beta,
                action_flexibility=cfg.action_flexibility,
                imitator_encoder_factory=VectorEncoderFactory(hidden_units=list(cfg.imitator_hidden_units)),
                **cont_common)
    return config.create(device=d3rlpy_device(device))


def train_offline_policy(ds: OfflineDataset, cfg: OfflineRLConfig, seed: int, agent_ids: Sequence[int] | None = None,
                         device: str = "cpu", logger: logging.Logger | None = None):
    """Train BCQ / CQL on the chosen agents' trajectories (all if ``None``) for exactly ``cfg.n_steps`` updates.

    Returns the trained d3rlpy algorithm (``algo.predict(obs [B, D]) -> actions``, ``algo.grad_step``).
    Writes no files; progress goes to ``logger`` (default: the ``persim`` logger) once per epoch.
    """
    import d3rlpy

    plain_d3rlpy_logs()

    logger = logger or LOG
    dataset = use_batched_sampling(to_mdp_dataset(ds, agent_ids))  # same batches, drawn as index arrays
    who = "all agents" if agent_ids is None else f"agents {list(agent_ids)}"
    interval = cfg.effective_target_update_interval()
    if N_ACTIONS[ds.env] > 0 and interval < cfg.target_update_interval:
        logger.info("%s: target_update_interval %d capped at %d so %d updates copy the target >= %d times",
                    cfg.algo, cfg.target_update_interval, interval, cfg.n_steps, cfg.min_target_updates)
    logger.info("%s %s on %s: %d transitions in %d episodes, %d updates, seed %d", ds.env, cfg.algo, who,
                dataset.transition_count, len(dataset.episodes), cfg.n_steps, seed)
    d3rlpy.seed(seed)
    algo = build_algo(ds.env, cfg, dataset, device)
    progress = Progress(cfg.n_steps, f"{ds.env} {cfg.algo} updates", every=min(cfg.n_steps_per_epoch, cfg.n_steps),
                        logger=logger)
    factory = PersimLoggerAdapterFactory(progress, f"{cfg.algo.upper()} ({who}) on {data_label(ds)}")
    for n_epochs, per_epoch in epoch_plan(cfg.n_steps, cfg.n_steps_per_epoch):
        algo.fit(dataset, n_steps=n_epochs * per_epoch, n_steps_per_epoch=per_epoch, logger_adapter=factory,
                 show_progress=False, save_interval=n_epochs + 1, with_timestamp=False)
    elapsed = progress.close()
    logger.info("%s %s: %d updates in %.1f s (%.1f updates/s)", ds.env, cfg.algo, algo.grad_step, elapsed,
                algo.grad_step / max(elapsed, 1e-9))
    return algo


# ----------------------------------------------------------------------------------------------
# policy sets


def _to_blob(algo) -> dict[str, Any]:
    """Config JSON and weights (bytes) of a trained d3rlpy algorithm; no file is written."""
    from d3rlpy.base import LearnableConfigWithShape

    weights = io.BytesIO()
    algo.impl.save_model(weights)
    config = LearnableConfigWithShape(observation_shape=algo.impl.observation_shape,
                                      action_size=algo.impl.action_size, config=algo.config)
    return {"config": config.serialize(), "weights": weights.getvalue()}


def _from_blob(blob: dict[str, Any], device: str):
    """Rebuild the d3rlpy algorithm of :func:`_to_blob` on ``device``."""
    from d3rlpy.base import LearnableConfigWithShape

    algo = LearnableConfigWithShape.deserialize(blob["config"]).create(device=d3rlpy_device(device))
    algo.impl.load_model(io.BytesIO(blob["weights"]))
    return algo


class D3rlpyPolicy:
    """One trained d3rlpy BCQ / CQL algorithm behind the :class:`~persim.protocols.Policy` protocol."""

    def __init__(self, algo):
        from d3rlpy.constants import ActionSpace

        self.algo = algo
        self.obs_dim = int(np.prod(algo.impl.observation_shape))
        self.discrete = algo.get_action_type() == ActionSpace.DISCRETE

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions ``[B]`` int64 | ``[B, A]`` float32 for observations ``[B, D]`` float32."""
        obs = np.asarray(obs, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ValueError(f"actor expects observations [B, {self.obs_dim}], got shape {obs.shape}")
        actions = self.algo.predict(obs)
        return actions.astype(np.int64) if self.discrete else actions.astype(np.float32)

    def state(self) -> dict[str, Any]:
        return _to_blob(self.algo)

    @classmethod
    def from_state(cls, blob: dict[str, Any], device: str = "cpu") -> "D3rlpyPolicy":
        return cls(_from_blob(blob, device))


# ----------------------------------------------------------------------------------------------
# the method protocol (persim.protocols): config, train, load


def make_config(settings: dict[str, Any], env: str, key: str, episode_steps: int, algo: str = "cql",
                **_: Any) -> OfflineRLConfig:
    """``algo``'s paper defaults for ``env`` updated with ``settings`` (ConfigError names ``key.<field>``)."""
    from persim.config import build_dataclass

    return build_dataclass(for_env, settings, key, OfflineRLConfig, env=env, algo=algo)


def train(ds: OfflineDataset, agents: pd.DataFrame, cfg: OfflineRLConfig, seed: int, device: str = "cpu",
          log: logging.Logger | None = None, scope: str = "p", **_: Any) -> tuple[PolicySet, None]:
    """BCQ / CQL policy set of ``scope`` on ``ds``; each policy's seed is ``derive_seed(seed, algo, key)``."""
    import d3rlpy

    test_ids = scoped_test_agents(agents, scope)

    def train_one(agent_ids, policy_seed):
        return D3rlpyPolicy(train_offline_policy(ds, cfg, policy_seed, agent_ids, device, log))

    meta = {"method": f"{cfg.algo}_{scope}", "env": ds.env, "algo": cfg.algo, "config": asdict(cfg),
            "dataset": ds.path, "dataset_meta": ds.meta, "d3rlpy": d3rlpy.__version__}
    return train_policy_set(train_one, scope, test_ids, seed, cfg.algo, meta), None


def load(path: str | Path, device: str = "cpu") -> PolicySet:
    return PolicySet.load(path, D3rlpyPolicy, device)


__all__ = [
    "OfflineRLConfig", "PAPER_DEFAULTS", "for_env", "to_mdp_dataset", "epoch_plan", "build_algo",
    "train_offline_policy", "D3rlpyPolicy", "PersimLoggerAdapterFactory", "make_config", "train", "load",
]
