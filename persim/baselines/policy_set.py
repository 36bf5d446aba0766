"""One policy set for every policy method (BCQ, CQL, MOReL): scope P or A, one file, save / load.

Scope ``"p"`` trains one policy on all agents' trajectories (key ``"all"``); scope ``"a"`` one per
test agent on that agent's trajectory alone (key = its agent id). The set stores each policy's
:meth:`~persim.protocols.Policy.state` and is rebuilt with the policy class's ``from_state``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from persim.protocols import Act, Policy
from persim.seeding import derive_seed

SCOPES = ("p", "a")
FORMAT = "persim-policy-set/2"
Key = int | str


def _check_keys(policies: dict) -> dict[Key, Any]:
    bad = [k for k in policies if not (k == "all" or (isinstance(k, (int, np.integer)) and not isinstance(k, bool)))]
    if not policies or bad:
        raise ValueError(f"policy set keys must be 'all' or int agent ids, got {list(policies)}")
    return {(k if k == "all" else int(k)): p for k, p in policies.items()}


class PolicySet:
    """Trained policies of one method on one dataset (see module docstring).

    ``meta``: method, env, scope, seed, config and per-policy facts (agents, transitions, seeds).
    """

    def __init__(self, policies: dict[Key, Policy], meta: dict[str, Any]):
        self.policies = _check_keys(policies)
        self.meta = dict(meta)

    def keys(self) -> list[Key]:
        return list(self.policies)

    def actor(self, agent_id: int) -> Act:
        """``act(obs [B, D])`` of the agent's own policy if present, else of the ``"all"`` policy."""
        policy = self.policies.get(int(agent_id), self.policies.get("all"))
        if policy is None:
            raise KeyError(f"no policy for agent {agent_id} and no 'all' policy in this "
                           f"{self.meta.get('method', '?')} set; it holds {self.keys()}")
        return policy.act

    def save(self, path: str | Path) -> None:
        blob = {"format": FORMAT, "meta": self.meta, "policies": {k: p.state() for k, p in self.policies.items()}}
        torch.save(blob, str(path))

    @classmethod
    def load(cls, path: str | Path, policy_cls: Any, device: str = "cpu") -> "PolicySet":
        """Rebuild a saved set whose policies are ``policy_cls`` (``from_state(blob, device)``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"policy set file not found: {path}")
        blob = torch.load(str(path), map_location="cpu", weights_only=False)
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise ValueError(f"{path}: not a policy set (expected format {FORMAT!r})")
        return cls({k: policy_cls.from_state(b, device) for k, b in blob["policies"].items()}, blob["meta"])


def scope_groups(scope: str, test_agent_ids: Sequence[int]) -> dict[Key, list[int] | None]:
    """Key -> the agents whose transitions train that policy (None: all agents)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES} (-P / -A), got {scope!r}")
    groups: dict[Key, list[int] | None] = {"all": None} if scope == "p" else {int(a): [int(a)] for a in test_agent_ids}
    if not groups:
        raise ValueError("scope 'a' needs at least one test agent id")
    return groups


def scoped_test_agents(agents, scope: str) -> list[int]:
    """Agent ids of the agents table's test agents (``test_agent > 0``), after checking ``scope``
    (so a bad scope fails before any training)."""
    ids = agents.loc[agents["test_agent"] > 0, "agent_id"].astype(int).tolist()
    scope_groups(scope, ids)
    return ids


def train_policy_set(train_one: Callable[[list[int] | None, int], Policy], scope: str,
                     test_agent_ids: Sequence[int], seed: int, seed_label: str,
                     meta: dict[str, Any]) -> PolicySet:
    """Train every policy of a scope: ``train_one(agent_ids | None, seed)`` with the policy's seed
    ``derive_seed(seed, seed_label, key)``; ``meta`` is extended with the scope, the test agents and
    ``policies``: per key (as a string) its training agents and seed."""
    policies, info = {}, {}
    for key, agents in scope_groups(scope, test_agent_ids).items():
        info[str(key)] = {"agent_ids": agents, "seed": derive_seed(seed, seed_label, key)}
        policies[key] = train_one(agents, info[str(key)]["seed"])
    extra = {"scope": scope, "seed": seed, "policies": info, "test_agent_ids": [int(a) for a in test_agent_ids]}
    return PolicySet(policies, {**meta, **extra})
