"""Baselines of the paper's Tables 6-11: CaDM (simulators), BCQ / CQL / MOReL (policies).

Simulator baselines follow the simulator protocol of :mod:`persim.evaluation`; policy baselines
save a *policy set* (one policy trained on all agents, key ``"all"``, or one per test agent) with
``save(path)``, ``load(path, device)`` and ``actor(agent_id) -> act(obs [B, D]) -> actions``.
"""
