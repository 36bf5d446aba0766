"""Returns the paper's policies were trained to reach (§5.1 and App. F.1)."""
from __future__ import annotations

LOGGING_TARGETS = {"mountaincar": -200.0, "cartpole": 120.0, "halfcheetah": 3000.0}
TEST_TARGETS = {"mountaincar": -150.0, "cartpole": 150.0, "halfcheetah": 4000.0}


def paper_target(env: str, policy: str) -> float:
    """Approximate return the paper reports for a logging (``logging<k>``) or ``test`` policy."""
    return (TEST_TARGETS if policy == "test" else LOGGING_TARGETS)[env]


OFF_TARGET = 0.25  # a policy whose return misses its target by more than 25% of |target| is flagged


def target_gap(mean_return: float, target: float) -> float:
    """Shortfall of ``mean_return`` below ``target`` as a share of |target| (0 when it reaches it)."""
    return max(0.0, (target - mean_return) / abs(target))
