"""Learned simulators: PerSim's factorised ensemble (and, later, the baselines' models)."""
from persim.models.persim import PerSimConfig, PerSimNet, PerSimSimulator, train_persim

__all__ = ["PerSimConfig", "PerSimNet", "PerSimSimulator", "train_persim"]
