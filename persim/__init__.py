"""persim: a reproduction of PerSim (Agarwal et al., NeurIPS 2021) and its baselines.

Subpackages, one job each: ``envs`` (heterogeneous environments, agents, batched true dynamics),
``policies`` (online logging/test policies), ``data`` (rollouts, Parquet datasets and their loader),
``reporting`` (tables beside the paper's numbers). ``provenance`` and ``progress`` are shared helpers.
"""
__version__ = "0.1.0"
