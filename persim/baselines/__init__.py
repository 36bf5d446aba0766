"""Baselines of the paper's Tables 6-11: CaDM (simulators), BCQ / CQL / MOReL (policies).

Each module implements the method protocol of :mod:`persim.protocols` (``make_config``, ``train``,
``load``) and is named in the registry :mod:`persim.methods`. Simulator baselines are
:class:`~persim.protocols.Simulator` s; policy baselines train a
:class:`~persim.baselines.policy_set.PolicySet` (one policy on all agents, key ``"all"``, or one
per test agent) with ``save(path)`` and ``actor(agent_id) -> act(obs [B, D]) -> actions``.
"""
