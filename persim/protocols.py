"""The two interfaces every method implements; the evaluators speak to methods only through them.

Shapes: B rows, D state size, A action size (continuous) or one int64 action (discrete), M
members, P rollouts per planning row (members or particles), c context size, N agents.

* :class:`Simulator` — a learned dynamics model (PerSim, Vanilla / PE-TS CaDM). It is scored by
  the prediction evaluation (Tables 6-8) and planned on by MPC (Tables 9-11).
* :class:`PolicySet` — learned policies (BCQ, CQL, MOReL): one trained on all agents (scope "p",
  key ``"all"``) or one per test agent (scope "a"); they act directly in the true env.

A method module (named in :mod:`persim.methods`) adds three functions behind these:
``make_config(settings, env, key, episode_steps, **options) -> dataclass``,
``train(dataset, agents, cfg, seed, device, log, **options) -> (model, history | None)`` and
``load(path, device) -> model``; the model has ``save(path)`` and a ``meta`` dict. For the cost
estimate (:mod:`persim.cost`) it also declares ``WORK_FIELDS`` (config field -> ``"pass"`` for epochs
over the data, ``"step"`` for a fixed count such as updates) and, where needed, ``CALIBRATION_SETTINGS``
(settings that make a short timed run do exactly the work asked, e.g. no early stopping).
"""
from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import torch

StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (states [P, R, D], actions [R(, A)]) -> [P, R, D]
Act = Callable[[np.ndarray], np.ndarray]  # obs [B, D] float32 -> actions [B] int64 | [B, A] float32


@runtime_checkable
class Simulator(Protocol):
    """A learned simulator of every agent's dynamics (raw units in and out).

    Attributes:
        n_members: M, ensemble members (1 for a single model).
        planning_members: P, rollouts per MPC candidate the planner averages (members or particles).
        context_length: K, past true transitions the model conditions on to tell agents apart
            (0: it is told the agent id instead, as PerSim).
        device: where its tensors live.
        meta: what training recorded (env, sizes, seed, provenance).
    """

    n_members: int
    planning_members: int
    context_length: int
    meta: dict[str, Any]

    @property
    def device(self) -> torch.device: ...

    def encode_context(self, obs, actions, next_obs, mask) -> torch.Tensor:
        """Context ``[B, c]`` from the last K transitions ``obs, next_obs [B, K, D]``, actions
        ``[B, K(, A)]``, mask ``[B, K]`` (True = a real transition). Only for ``context_length > 0``."""

    def member_predictions(self, agents, states, actions, context=None) -> torch.Tensor:
        """Each member's next state ``[M, B, D]`` for agent ids ``[B]``, states ``[B, D]``, actions
        ``[B]`` | ``[B, A]`` and, when ``context_length > 0``, context ``[B, c]``."""

    def predict(self, agents, states, actions, context=None) -> torch.Tensor:
        """Ensemble-mean next state ``[B, D]`` (arguments as :meth:`member_predictions`)."""

    def planning_step(self, agents, n_rows: int, context=None, generator: torch.Generator | None = None) -> StepFn:
        """The batched step MPC rolls candidates with. Episode ``e`` (agent ``agents[e]``, ids ``[E]``;
        context ``[E, c]`` held fixed over the horizon) owns rows ``e*n_rows .. (e+1)*n_rows - 1``;
        the step maps states ``[P, E*n_rows, D]`` and actions ``[E*n_rows(, A)]`` to next states
        ``[P, E*n_rows, D]``. Sampling models draw from ``generator``."""

    def save(self, path) -> None: ...


@runtime_checkable
class Policy(Protocol):
    """One trained policy: greedy ``act``, and a plain-data ``state`` it is rebuilt from."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions ``[B]`` int64 | ``[B, A]`` float32 for observations ``[B, D]``."""

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the policy with the class's ``from_state(blob, device)``."""


@runtime_checkable
class PolicySet(Protocol):
    """Policies of one method and dataset, keyed ``"all"`` (scope p) or by test-agent id (scope a)."""

    meta: dict[str, Any]

    def actor(self, agent_id: int) -> Act:
        """The agent's own policy's ``act`` if the set has one, else the ``"all"`` policy's."""

    def save(self, path) -> None: ...
