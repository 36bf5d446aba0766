"""Online logging and test policies (DQN for MountainCar/CartPole, TD3 for HalfCheetah) via d3rlpy."""
from persim.policies.io import load_policy
from persim.policies.train import PolicyConfig, evaluate_policy, train_policy

__all__ = ["PolicyConfig", "evaluate_policy", "load_policy", "train_policy"]
