"""A d3rlpy logger adapter: each epoch's mean losses to the rule log (with ETA), no files, and a
:class:`~persim.guards.DivergenceError` as soon as a loss is NaN or inf."""
from __future__ import annotations

import logging
from typing import Any

from persim.guards import check_loss
from persim.progress import Progress

LOG = logging.getLogger("persim")


def plain_d3rlpy_logs() -> None:
    """d3rlpy sets up structlog with a colouring console renderer when imported; render without
    ANSI colour codes (they would land in the rule logs). Call after importing d3rlpy."""
    import structlog

    processors = [structlog.dev.ConsoleRenderer(colors=False) if isinstance(p, structlog.dev.ConsoleRenderer) else p
                  for p in structlog.get_config()["processors"]]
    structlog.configure(processors=processors)


class PersimLoggerAdapter:
    """d3rlpy ``LoggerAdapter`` that logs each epoch's mean losses, progress and ETA; writes no files."""

    def __init__(self, progress: Progress | None, step_offset: int, what: str = "d3rlpy"):
        self.progress = progress
        self.step_offset = step_offset
        self.what = what
        self.metrics: dict[str, float] = {}

    def write_params(self, params: dict[str, Any]) -> None:
        LOG.debug("d3rlpy parameters: %s", params)

    def before_write_metric(self, epoch: int, step: int) -> None:
        self.metrics = {}

    def write_metric(self, epoch: int, step: int, name: str, value: float) -> None:
        if not name.startswith("time_"):  # d3rlpy's timers; Progress reports elapsed / ETA
            self.metrics[name] = float(value)

    def after_write_metric(self, epoch: int, step: int) -> None:
        """Log the epoch; a non-finite loss stops training (:class:`~persim.guards.DivergenceError`)."""
        if self.progress is not None:
            self.progress.update(self.step_offset + step - self.progress.done, **self.metrics)
        losses = {k: v for k, v in self.metrics.items() if "loss" in k}
        if losses:
            first = next(iter(losses))
            check_loss(losses.pop(first), self.what, epoch, **losses)

    def save_model(self, epoch: int, algo: Any) -> None:
        """Never writes a model file (the caller saves the trained policy)."""

    def watch_model(self, epoch: int, step: int) -> None:
        pass

    def close(self) -> None:
        pass


class PersimLoggerAdapterFactory:
    """d3rlpy ``LoggerAdapterFactory``: every ``fit`` call continues one :class:`Progress` count
    (``progress=None``: no progress lines, only the divergence check)."""

    def __init__(self, progress: Progress | None, what: str = "d3rlpy"):
        self.progress, self.what = progress, what

    def create(self, algo: Any, experiment_name: str, n_steps_per_epoch: int) -> PersimLoggerAdapter:
        offset = self.progress.done if self.progress is not None else 0
        return PersimLoggerAdapter(self.progress, step_offset=offset, what=self.what)
