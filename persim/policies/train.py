"""Train one logging/test policy online with d3rlpy (DQN discrete, TD3 continuous).

Paper (§5.1, App. E.2): DQN for MountainCar and CartPole, TD3 for HalfCheetah, trained on the
policy-training agents of Table 4 (logging policies) or the default agent (test policy).
Budgets come from config so reduced profiles can train briefly (and get weaker policies).
"""
from __future__ import annotations

import contextlib
import io
import logging
from collections import deque
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from persim.baselines.batch_sampling import use_batched_sampling_online
from persim.d3rlpy_logging import PersimLoggerAdapterFactory, plain_d3rlpy_logs
from persim.data.rollout import PolicyActor, rollout
from persim.device import d3rlpy_device
from persim.envs import get_spec, make
from persim.policies.shaping import PotentialShaping, potential
from persim.progress import Progress

LOG = logging.getLogger("persim")


@dataclass
class PolicyConfig:
    """Online training settings; all budgets in environment steps.

    Every ``update_interval`` env steps, ``n_updates`` gradient steps are taken.
    ``n_steps_per_epoch`` is clipped to ``n_steps`` (d3rlpy would otherwise do 0 updates).
    DQN uses ``learning_rate``, ``target_update_interval`` and a linear epsilon decay from
    ``epsilon_start`` to ``epsilon_end`` over ``exploration_fraction * n_steps``; TD3 uses
    ``actor_learning_rate``, ``critic_learning_rate``, Gaussian ``exploration_noise`` and
    ``random_steps`` of uniform actions first. With ``eval_interval > 0`` the greedy policy is
    evaluated every that many steps on ``eval_episodes`` episodes and the best snapshot is kept
    (DQN on MountainCar is notoriously unstable: its last iterate is often worse than an earlier one);
    with ``stop_return`` too, training stops at the first evaluation whose mean return reaches it
    (that snapshot is kept: a policy of about the paper's quality, not a better one, for less work).
    ``shaping`` names a potential of :mod:`persim.policies.shaping` added to the training reward
    (``shaping_scale`` x its potential-based term; evaluations keep the env's reward).
    """

    algo: str
    n_steps: int
    n_steps_per_epoch: int = 5000
    update_interval: int = 1
    n_updates: int = 1
    update_start_step: int = 1000
    batch_size: int = 64
    gamma: float = 0.99
    hidden_units: list[int] = field(default_factory=lambda: [256, 256])
    buffer_size: int = 100_000
    eval_episodes: int = 10
    eval_interval: int = 0
    # DQN
    double_dqn: bool = False
    learning_rate: float = 1e-3
    target_update_interval: int = 500
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    exploration_fraction: float = 0.5
    # TD3
    actor_learning_rate: float = 3e-4
    critic_learning_rate: float = 3e-4
    exploration_noise: float = 0.1
    random_steps: int = 0
    stop_return: float | None = None
    shaping: str | None = None        # a potential of persim.policies.shaping (training reward only)
    shaping_scale: float = 100.0

    def __post_init__(self) -> None:
        if self.algo not in ("dqn", "td3"):
            raise ValueError(f"policies.<env>.algo must be 'dqn' or 'td3', got {self.algo!r}")
        if self.n_steps < 1:
            raise ValueError(f"policies.<env>.n_steps must be >= 1, got {self.n_steps}")
        if self.stop_return is not None and not self.eval_interval:
            raise ValueError("policies.<env>.stop_at_target needs eval_interval > 0 (the evaluations that stop it)")
        if self.shaping_scale <= 0:
            raise ValueError(f"policies.<env>.shaping_scale must be > 0, got {self.shaping_scale}")


class _TargetReached(Exception):
    """Raised from d3rlpy's step callback to end online training early."""


class EpisodeReturns(gym.Wrapper):
    """Remembers the returns of the last 20 finished training episodes."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.recent: deque[float] = deque(maxlen=20)
        self.episodes = 0
        self._ret = 0.0

    def reset(self, **kwargs):
        self._ret = 0.0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, r, te, tr, info = self.env.step(action)
        self._ret += float(r)
        if te or tr:
            self.recent.append(self._ret)
            self.episodes += 1
        return obs, r, te, tr, info


def _observation_scaler(env: gym.Env):
    """Min-max scaler from the observation box when it is bounded (MountainCar), else None.

    MountainCar's velocity is ~50x smaller than its position; unscaled, DQN's Q-values barely
    depend on it and the greedy policy idles at the valley bottom.
    """
    from d3rlpy.preprocessing import MinMaxObservationScaler

    low, high = env.observation_space.low, env.observation_space.high
    if np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(high - low < 1e3):
        return MinMaxObservationScaler(minimum=low.astype(np.float32), maximum=high.astype(np.float32))
    return None


def _build(cfg: PolicyConfig, device: str, env: gym.Env):
    import d3rlpy
    from d3rlpy.models.encoders import VectorEncoderFactory

    plain_d3rlpy_logs()

    enc = VectorEncoderFactory(hidden_units=list(cfg.hidden_units))
    scaler = _observation_scaler(env)
    if cfg.algo == "dqn":
        make_config = d3rlpy.algos.DoubleDQNConfig if cfg.double_dqn else d3rlpy.algos.DQNConfig
        algo = make_config(
            batch_size=cfg.batch_size, observation_scaler=scaler, gamma=cfg.gamma, learning_rate=cfg.learning_rate,
            target_update_interval=cfg.target_update_interval, encoder_factory=enc,
        ).create(device=d3rlpy_device(device))
        explorer = d3rlpy.algos.LinearDecayEpsilonGreedy(
            start_epsilon=cfg.epsilon_start, end_epsilon=cfg.epsilon_end,
            duration=max(1, int(cfg.exploration_fraction * cfg.n_steps)),
        )
    else:
        algo = d3rlpy.algos.TD3Config(
            batch_size=cfg.batch_size, gamma=cfg.gamma, actor_learning_rate=cfg.actor_learning_rate,
            critic_learning_rate=cfg.critic_learning_rate, observation_scaler=scaler, actor_encoder_factory=enc, critic_encoder_factory=enc,
        ).create(device=d3rlpy_device(device))
        explorer = d3rlpy.algos.NormalNoise(mean=0.0, std=cfg.exploration_noise)
    return algo, explorer


def train_policy(env_name: str, covariates: dict[str, float], cfg: PolicyConfig, seed: int,
                 max_episode_steps: int | None = None, device: str = "cpu", terminal_reward: float | None = None):
    """Train a policy online on one agent; returns the d3rlpy algorithm (call ``.save(path)``). The
    greedy evaluations that pick the snapshot (and stop at ``cfg.stop_return``) score an episode's
    terminal step ``terminal_reward`` if given, as every reported return does."""
    import d3rlpy

    spec = get_spec(env_name)
    if (cfg.algo == "dqn") != spec.discrete:
        raise ValueError(f"policies.{env_name}.algo={cfg.algo!r} does not fit {env_name}'s action space")
    d3rlpy.seed(seed)
    returns = EpisodeReturns(make(env_name, max_episode_steps=max_episode_steps, **covariates))
    env = returns if cfg.shaping is None else PotentialShaping(returns, potential(env_name, cfg.shaping),
                                                               cfg.gamma, cfg.shaping_scale)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    algo, explorer = _build(cfg, device, env)
    # d3rlpy's FIFO buffer; its mini-batches drawn as index arrays (the same batches, persim.baselines.batch_sampling)
    buffer = use_batched_sampling_online(d3rlpy.dataset.create_fifo_replay_buffer(limit=cfg.buffer_size, env=env))
    progress = Progress(cfg.n_steps, f"{env_name} {cfg.algo} steps", every=max(1, cfg.n_steps // 25))

    best = {"return": -np.inf, "step": 0, "weights": None}

    def greedy_eval(step: int) -> None:
        act = lambda obs: algo.predict(obs.astype(np.float32))  # noqa: E731
        ret = float(evaluate_policy(act, env_name, covariates, cfg.eval_episodes, seed + step, max_episode_steps,
                                    terminal_reward).mean())
        LOG.info("step %d greedy eval return %.2f (best %.2f at step %d)", step, ret, best["return"], best["step"])
        if ret > best["return"]:
            buf = io.BytesIO()
            algo.impl.save_model(buf)
            best.update({"return": ret, "step": step, "weights": buf.getvalue()})

    def callback(_algo, _epoch: int, step: int) -> None:
        metrics = {"episodes": returns.episodes}
        if returns.recent:
            metrics["return_last20"] = float(np.mean(returns.recent))  # the env's reward, unshaped
        progress.update(1, **metrics)
        if cfg.eval_interval and step % cfg.eval_interval == 0 and step > cfg.update_start_step:
            greedy_eval(step)
            if cfg.stop_return is not None and best["return"] >= cfg.stop_return:
                raise _TargetReached

    with contextlib.suppress(_TargetReached):
        _fit(algo, cfg, env, buffer, explorer, callback, env_name, covariates)
    progress.close()
    if cfg.eval_interval:
        if cfg.stop_return is not None and best["return"] >= cfg.stop_return:
            LOG.info("target return %.2f reached at step %d: training stopped", cfg.stop_return, best["step"])
        else:
            greedy_eval(cfg.n_steps)
        LOG.info("keeping the snapshot of step %d (greedy eval return %.2f)", best["step"], best["return"])
        algo.impl.load_model(io.BytesIO(best["weights"]))
    return algo


def build_policy(env_name: str, cfg: PolicyConfig, device: str = "cpu"):
    """An untrained policy with ``cfg``'s algorithm and networks, built for ``env_name``: it saves,
    loads and acts at a trained one's cost (what :mod:`persim.cost` times)."""
    env = make(env_name)
    algo, _ = _build(cfg, device, env)
    algo.build_with_env(env)
    return algo


def _fit(algo, cfg: PolicyConfig, env, buffer, explorer, callback, env_name: str, covariates) -> None:
    algo.fit_online(
        env, buffer, explorer,
        n_steps=cfg.n_steps, n_steps_per_epoch=min(cfg.n_steps_per_epoch, cfg.n_steps),
        update_interval=cfg.update_interval, n_updates=cfg.n_updates, update_start_step=min(cfg.update_start_step, cfg.n_steps),
        random_steps=cfg.random_steps,
        logger_adapter=PersimLoggerAdapterFactory(None, f"{cfg.algo.upper()} policy on {env_name} {covariates}"),
        show_progress=False, callback=callback,
    )


def evaluate_policy(act, env_name: str, covariates: dict[str, float], n_episodes: int, seed: int,
                    max_episode_steps: int | None = None, terminal_reward: float | None = None) -> np.ndarray:
    """Greedy returns ``[n_episodes]`` of ``act`` on one agent, all episodes run in lock step (the step
    that ends an episode scores ``terminal_reward`` if given, else the env's reward)."""
    envs = [make(env_name, max_episode_steps=max_episode_steps, **covariates) for _ in range(n_episodes)]
    seeds = [seed + 10_000 + i for i in range(n_episodes)]
    tr = rollout(envs, seeds, PolicyActor([act]))
    return tr.episode_returns(n_episodes, terminal_reward)
