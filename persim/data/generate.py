"""Build one offline dataset: one trajectory per agent under a behaviour (App. E.2).

Behaviours are epsilon-mixtures of the pure (logging) policy and uniform actions: pure = 0,
pure_eps20 = 0.2, pure_eps40 = 0.4, random = 1 (no policy needed). Each agent's pure policy is the
logging policy of its nearest policy-training agent (column ``logging_policy`` of the agents table).
"""
from __future__ import annotations

import logging
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from persim.data.rollout import PolicyActor, rollout
from persim.data.schema import to_frame
from persim.envs import get_spec, make
from persim.envs.agents import covariate_matrix
from persim.progress import Progress

LOG = logging.getLogger("persim")
BEHAVIOURS = ("pure", "random", "pure_eps20", "pure_eps40")


def behaviour_stream(seed: int, behaviour: str) -> np.random.SeedSequence:
    """Independent random stream per behaviour (and the same one for the same seed)."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; expected one of {BEHAVIOURS}")
    return np.random.SeedSequence([seed, BEHAVIOURS.index(behaviour)])


def generate_dataset(
    env_name: str,
    agents: pd.DataFrame,
    behaviour: str,
    epsilon: float,
    seed: int,
    policies: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    max_episode_steps: int | None = None,
) -> pd.DataFrame:
    """Roll out one episode per agent of ``agents``; returns the transitions in the dataset schema.

    Args:
        policies: logging policy name (``logging<k>``) -> ``act(obs [B, D])``; unused if epsilon == 1.
    """
    spec = get_spec(env_name)
    cov = covariate_matrix(spec, agents)
    ss = behaviour_stream(seed, behaviour)
    reset_seq, action_seq = ss.spawn(2)
    reset_seeds = reset_seq.generate_state(len(agents), dtype=np.uint32).tolist()
    envs = [make(env_name, max_episode_steps=max_episode_steps, **spec.covariate_dict(c)) for c in cov]
    if epsilon < 1.0:
        names = sorted(set(agents["logging_policy"]))
        missing = [n for n in names if n not in policies]
        if missing:
            raise KeyError(f"{env_name}/{behaviour}: no policy file given for {missing}")
        acts = [policies[n] for n in names]
        pidx = agents["logging_policy"].map({n: i for i, n in enumerate(names)}).to_numpy()
    else:
        acts, pidx = [], None
    cap = max_episode_steps or spec.max_episode_steps
    progress = Progress(cap, f"{env_name}/{behaviour} lock-steps", every=max(1, cap // 10))
    actor = PolicyActor(acts, pidx, epsilon, np.random.default_rng(action_seq))
    tr = rollout(envs, reset_seeds, actor, on_step=lambda step, running, returns: progress.update(1, running=running))
    progress.close()
    LOG.info("%s/%s: %d agents, %d transitions", env_name, behaviour, len(agents), len(tr.t))
    return to_frame(spec, agents["agent_id"].to_numpy(), cov, tr)
