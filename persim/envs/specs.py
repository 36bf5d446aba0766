"""Static description of the three heterogeneous environments (paper Table 4, Appendix E.1).

Covariates are the physical parameters that make agents differ. Ranges, test agents and the
agents the logging policies are trained on are facts from the paper, so they live in code;
how many agents to sample and the episode caps are configuration.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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

ENV_NAMES: tuple[str, ...] = tuple(SPECS)


def get_spec(name: str) -> EnvSpec:
    """Return the :class:`EnvSpec` for ``name`` or raise a ``KeyError`` listing the valid names."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown env {name!r}; expected one of {list(SPECS)}") from None
