"""persim: a reproduction of PerSim (Agarwal et al., NeurIPS 2021) and its baselines.

Subpackages, one job each: ``envs`` (heterogeneous environments, agents, batched true dynamics),
``policies`` (online logging/test policies), ``data`` (rollouts, Parquet datasets and their loader),
``models`` (PerSim's ensemble), ``planning`` (MPC), ``evaluation``, ``baselines`` and ``reporting``
(tables beside the paper's numbers). ``provenance`` and ``progress`` are shared helpers.
"""
from persim.allocator import tune_malloc

__version__ = "0.1.0"
MALLOC_TUNED = tune_malloc()  # keeps large CPU tensors off mmap (see persim.allocator)
