"""Static description of the three heterogeneous environments (paper Table 4, Appendix E.1).

Covariates are the physical parameters that make agents differ. Ranges, test agents and the
agents the logging policies are trained on are facts from the paper, so they live in code;
how many agents to sample and the episode caps are configuration.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# the dataset schema's column names (persim.data.schema), which no covariate may take: the fixed ones, and
# one obs_i / next_obs_i / action_i per dimension
DATASET_FIELDS: frozenset[str] = frozenset({"agent_id", "t", "action", "reward", "terminated", "truncated"})
STEP_COLUMN: re.Pattern[str] = re.compile(r"(obs|next_obs|action)_\d+")


@dataclass(frozen=True)
class EnvSpec:
    """One heterogeneous environment family.

    Attributes:
        name: short name used in paths and config (``mountaincar``).
        gym_id: gymnasium id registered by :mod:`persim.envs`.
        reference_id: gymnasium's own env whose dynamics ours equal at the default covariates.
        covariates: covariate names, in column order.
        low, high: covariate range per name (Table 4), shape ``[C]``.
        default: the env's default covariates (gymnasium's values).
        test_agents: the five test agents of Table 4, shape ``[5, C]``, in the paper's order.
        policy_agents: agents the logging policies are trained on, shape ``[K, C]``.
        discrete: whether actions are discrete.
        max_episode_steps: the paper's episode cap.
        policy_algo: online RL algorithm used for logging/test policies.
        label: the name the paper's tables print (``MountainCar``).
        obs_dim: D, the observation size.
        n_actions: number of discrete actions (0 for continuous actions).
        action_dim: A, the continuous action size (0 for discrete actions: one int64 column).
        action_low, action_high: bounds of each continuous action coordinate, shape ``[A]``.
        true_dynamics: how planning on the true dynamics steps many states at once: ``"torch"``
            (batched tensor dynamics, :mod:`persim.envs.torch_dynamics`) or ``"mujoco"`` (MuJoCo
            state copies, :mod:`persim.planning.mujoco_dynamics`).
    """

    name: str
    gym_id: str
    reference_id: str
    covariates: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    default: tuple[float, ...]
    test_agents: tuple[tuple[float, ...], ...]
    policy_agents: tuple[tuple[float, ...], ...]
    discrete: bool
    max_episode_steps: int
    policy_algo: str
    label: str
    obs_dim: int
    n_actions: int
    action_dim: int = 0
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()
    true_dynamics: str = "torch"

    @property
    def n_covariates(self) -> int:
        return len(self.covariates)

    def covariate_dict(self, values) -> dict[str, float]:
        """Map a covariate vector ``[C]`` to constructor keyword arguments."""
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.shape[0] != self.n_covariates:
            raise ValueError(
                f"{self.name}: expected {self.n_covariates} covariates {self.covariates}, got {values.tolist()}"
            )
        return {k: float(v) for k, v in zip(self.covariates, values)}

    def normalize(self, values) -> np.ndarray:
        """Scale covariates ``[..., C]`` to the unit box of the Table 4 ranges."""
        low, high = np.asarray(self.low), np.asarray(self.high)
        return (np.asarray(values, dtype=np.float64) - low) / (high - low)

    @property
    def logging_policy_names(self) -> list[str]:
        """Names of this env's logging policies: ``logging0..K-1`` (one per policy-training agent)."""
        return [f"logging{k}" for k in range(len(self.policy_agents))]

    @property
    def policy_names(self) -> list[str]:
        """Names of the policies trained for this env: the logging policies and ``test``."""
        return self.logging_policy_names + ["test"]

    @classmethod
    def for_data(cls, name: str, obs_dim: int, n_actions: int = 0, action_low: tuple[float, ...] = (),
                 action_high: tuple[float, ...] = (), covariates: tuple[str, ...] = (),
                 low: tuple[float, ...] = (), high: tuple[float, ...] = (), max_episode_steps: int = 1000,
                 label: str | None = None) -> "EnvSpec":
        """A spec for your own heterogeneous-agent data, without a simulator of the paper's: D =
        ``obs_dim``; discrete actions ``0..n_actions-1`` or, with ``n_actions = 0``, continuous actions
        bounded by ``action_low`` / ``action_high`` (``[A]`` each); optional observed covariates with
        their ranges (PerSim does not need them: its agent factors are learned). No gymnasium env, test
        agents or logging policies: register it with :func:`register_spec` (or ``persim.envs.register_env``).
        Raises ``ValueError`` naming the field when the spec is inconsistent (:meth:`check`)."""
        if n_actions < 0:
            raise ValueError(f"EnvSpec {name!r}: n_actions must be >= 0 (0 means continuous actions), got {n_actions}")
        if n_actions and (action_low or action_high):
            raise ValueError(f"EnvSpec {name!r}: action_low / action_high bound continuous actions; with "
                             f"n_actions={n_actions} the actions are discrete")
        discrete = n_actions > 0
        spec = cls(name=name, gym_id="", reference_id="", covariates=tuple(covariates), low=tuple(low),
                   high=tuple(high), default=tuple((a + b) / 2 for a, b in zip(low, high)), test_agents=(),
                   policy_agents=(), discrete=discrete, max_episode_steps=int(max_episode_steps), policy_algo="",
                   label=label or name, obs_dim=int(obs_dim), n_actions=int(n_actions),
                   action_dim=0 if discrete else len(action_low), action_low=tuple(action_low),
                   action_high=tuple(action_high))
        spec.check()
        return spec

    def check(self) -> None:
        """Raise ``ValueError`` naming the field when the spec is inconsistent."""
        problems = []
        if not self.name or not self.name.isidentifier():
            problems.append(f"name {self.name!r} must be a non-empty identifier (it names paths and config keys)")
        if self.obs_dim < 1:
            problems.append(f"obs_dim must be >= 1, got {self.obs_dim}")
        if len(self.low) != len(self.covariates) or len(self.high) != len(self.covariates):
            problems.append(f"low / high need one value per covariate {list(self.covariates)}, got {len(self.low)} "
                            f"/ {len(self.high)}")
        if self.discrete != (self.n_actions > 0):
            problems.append(f"discrete={self.discrete} but n_actions={self.n_actions} (0 means continuous actions)")
        if self.discrete and self.action_dim:
            problems.append(f"discrete actions are one int64 column: action_dim must be 0, got {self.action_dim}")
        if not self.discrete and (self.action_dim < 1 or len(self.action_low) != self.action_dim
                                  or len(self.action_high) != self.action_dim):
            problems.append(f"continuous actions need action_dim >= 1 and one bound per coordinate in action_low / "
                            f"action_high, got {self.action_dim}, {len(self.action_low)}, {len(self.action_high)}")
        problems += self._covariate_problems()
        if any(a >= b for a, b in zip(self.action_low, self.action_high)):
            problems.append("every action_low must be below its action_high")
        if self.max_episode_steps < 1:
            problems.append(f"max_episode_steps must be >= 1, got {self.max_episode_steps}")
        if problems:
            raise ValueError(f"EnvSpec {self.name!r}: " + "; ".join(problems))

    def _covariate_problems(self) -> list[str]:
        """Covariates the dataset schema cannot hold, each named: a name of one of its columns or given
        twice (one column per covariate, ``[C]``), a range ``low[c] .. high[c]`` that is empty."""
        problems = []
        unnamed = [c for c in self.covariates if not isinstance(c, str) or not c]
        if unnamed:
            problems.append(f"covariate names must be non-empty strings, got {unnamed}")
        clash = [c for c in self.covariates if isinstance(c, str) and (c in DATASET_FIELDS or STEP_COLUMN.fullmatch(c))]
        if clash:
            problems.append(f"covariates {clash} clash with the dataset's columns (agent_id, t, obs_i, action or "
                            "action_i, reward, next_obs_i, terminated, truncated): rename them")
        twice = sorted({c for c in self.covariates if self.covariates.count(c) > 1}, key=str)
        if twice:
            problems.append(f"covariates {twice} are named more than once")
        empty = [f"{c} [{lo:g}, {hi:g}]" for c, lo, hi in zip(self.covariates, self.low, self.high) if not lo < hi]
        if empty:
            problems.append(f"every covariate's low must be below its high, got {', '.join(empty)}")
        return problems

    def policy_covariates(self, policy: str) -> tuple[float, ...]:
        """Covariates of the agent a named policy is trained on (``test`` = the default agent)."""
        if policy == "test":
            return self.default
        if policy.startswith("logging") and policy[7:].isdigit():
            k = int(policy[7:])
            if k < len(self.policy_agents):
                return self.policy_agents[k]
        raise KeyError(f"{self.name}: unknown policy {policy!r}; expected one of {self.policy_names}")


SPECS: dict[str, EnvSpec] = {
    "mountaincar": EnvSpec(
        name="mountaincar",
        gym_id="persim/MountainCar-v0",
        reference_id="MountainCar-v0",
        covariates=("gravity",),
        low=(0.0001,),
        high=(0.0035,),
        default=(0.0025,),
        test_agents=((0.0001,), (0.0005,), (0.0010,), (0.0025,), (0.0035,)),
        policy_agents=((0.0003,), (0.00075,), (0.00175,), (0.0025,), (0.0030,)),
        discrete=True,
        max_episode_steps=500,
        policy_algo="dqn",
        label="MountainCar",
        obs_dim=2,
        n_actions=3,
    ),
    "cartpole": EnvSpec(
        name="cartpole",
        gym_id="persim/CartPole-v0",
        reference_id="CartPole-v1",
        covariates=("force", "length"),
        low=(2.0, 0.15),
        high=(18.0, 0.85),
        default=(10.0, 0.5),
        test_agents=((2.0, 0.5), (10.0, 0.5), (18.0, 0.5), (10.0, 0.85), (10.0, 0.15)),
        policy_agents=((6.0, 0.5), (14.0, 0.5), (10.0, 0.5), (10.0, 0.675), (10.0, 0.325)),
        discrete=True,
        max_episode_steps=200,
        policy_algo="dqn",
        label="CartPole",
        obs_dim=4,
        n_actions=2,
    ),
    "halfcheetah": EnvSpec(
        name="halfcheetah",
        gym_id="persim/HalfCheetah-v0",
        reference_id="HalfCheetah-v5",
        covariates=("mass", "damping"),
        low=(0.2, 0.2),
        high=(1.8, 1.8),
        default=(1.0, 1.0),
        test_agents=((0.3, 1.7), (1.7, 0.3), (0.3, 0.3), (1.7, 1.7), (1.0, 1.0)),
        policy_agents=((0.6, 1.4), (1.4, 0.6), (0.6, 0.6), (1.4, 1.4)),
        discrete=False,
        max_episode_steps=1000,
        policy_algo="td3",
        label="HalfCheetah",
        obs_dim=18,  # gymnasium's 17 + one coordinate appended by persim.envs.halfcheetah
        n_actions=0,
        action_dim=6,
        action_low=(-1.0,) * 6,
        action_high=(1.0,) * 6,
        true_dynamics="mujoco",
    ),
}

ENV_NAMES: tuple[str, ...] = tuple(SPECS)  # the paper's three (the pipeline's envs); registered ones are not added


def register_spec(spec: EnvSpec, replace: bool = False) -> EnvSpec:
    """Add ``spec`` to :data:`SPECS` so the dataset schema, the methods and the planners know its
    shapes (``get_spec(spec.name)``). The paper's three envs cannot be replaced; another registered
    name only with ``replace=True``."""
    spec.check()
    if spec.name in ENV_NAMES:
        raise ValueError(f"env {spec.name!r} is one of the paper's {list(ENV_NAMES)}: choose another name")
    if spec.name in SPECS and not replace:
        raise ValueError(f"env {spec.name!r} is already registered (pass replace=True to replace it)")
    SPECS[spec.name] = spec
    return spec


def unregister_spec(name: str) -> None:
    """Remove a spec added by :func:`register_spec` (the paper's envs stay)."""
    if name in ENV_NAMES:
        raise ValueError(f"env {name!r} is one of the paper's {list(ENV_NAMES)} and cannot be removed")
    SPECS.pop(name, None)


def get_spec(name: str) -> EnvSpec:
    """Return the :class:`EnvSpec` for ``name`` or raise a ``KeyError`` listing the valid names."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown env {name!r}; expected one of {list(SPECS)}") from None
