"""Progress reporting for long work: log lines with ETA for rule logs, a tqdm bar on a terminal."""
from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm


def setup_logging(stream=None, level: int = logging.INFO) -> logging.Logger:
    """Send ``persim`` log records to ``stream`` (e.g. a rule's open ``log:`` file; default stderr)."""
    logger = logging.getLogger("persim")
    logger.setLevel(level)
    logger.handlers.clear()
    handler: logging.Handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.propagate = False
    return logger


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}"


class Progress:
    """Counts work units; every ``every`` units logs ``label i/total, elapsed, ETA, metrics``.

    A tqdm bar is shown too when stderr is a terminal (Python or shell use), never in rule logs.
    """

    def __init__(self, total: int, label: str, every: int | None = None, logger: logging.Logger | None = None):
        self.total = max(1, int(total))
        self.label = label
        self.every = every or max(1, self.total // 20)
        self.logger = logger or logging.getLogger("persim")
        self.start = time.perf_counter()
        self.done = 0
        self._next_log = self.every
        self.bar = tqdm(total=self.total, desc=label, leave=False) if sys.stderr.isatty() else None

    def update(self, n: int = 1, **metrics: float) -> None:
        """Advance by ``n`` units; log when a multiple of ``every`` is crossed or at the end."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            if metrics:
                self.bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()})
        if self.done >= self._next_log or self.done >= self.total:
            self._next_log = (self.done // self.every + 1) * self.every
            self.log(**metrics)

    def log(self, **metrics: float) -> None:
        elapsed = time.perf_counter() - self.start
        eta = elapsed / max(self.done, 1) * (self.total - self.done)
        extra = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        self.logger.info(
            "%s %d/%d elapsed %s ETA %s %s", self.label, self.done, self.total,
            format_seconds(elapsed), format_seconds(eta), extra,
        )

    def close(self) -> float:
        """Close the bar; return elapsed seconds."""
        if self.bar is not None:
            self.bar.close()
        return time.perf_counter() - self.start
