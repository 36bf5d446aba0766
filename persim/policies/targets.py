"""Returns the paper's policies were trained to reach (§5.1 and App. F.1)."""
from __future__ import annotations

LOGGING_TARGETS = {"mountaincar": -200.0, "cartpole": 120.0, "halfcheetah": 3000.0}
TEST_TARGETS = {"mountaincar": -150.0, "cartpole": 150.0, "halfcheetah": 4000.0}


def paper_target(env: str, policy: str) -> float:
    """Approximate return the paper reports for a logging (``logging<k>``) or ``test`` policy."""
    return (TEST_TARGETS if policy == "test" else LOGGING_TARGETS)[env]
