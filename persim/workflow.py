"""Glue between Snakemake ``script:`` rules and the package: logging, threads, provenance.

Every script body runs inside :func:`rule_run`, which sends the ``persim`` logger, stdout and stderr
(d3rlpy's own messages) to the rule's ``log:`` file, limits torch to the rule's ``threads``, logs
any exception with its traceback, and hands back a provenance factory for the outputs.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Any, Iterator

import torch

from persim import provenance
from persim.progress import setup_logging


class RuleRun:
    """State of one running rule: its logger, its start time and its settings."""

    def __init__(self, smk: Any, logger: logging.Logger):
        self.smk = smk
        self.logger = logger
        self.start = time.perf_counter()
        self.settings = dict(smk.params.get("settings", {})) if hasattr(smk.params, "get") else {}

    def provenance(self, device: str = "cpu", settings: dict[str, Any] | None = None,
                   outputs: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        """The provenance record of this job's outputs; a job that writes several results (one per
        method) passes each one's own ``settings`` and ``outputs``."""
        settings = self.settings if settings is None else settings
        return provenance.record(
            settings, settings.get("seed"), rule=self.smk.rule, device=device,
            wall_time_s=round(time.perf_counter() - self.start, 3),
            inputs=[str(p) for p in self.smk.input],
            outputs=[str(p) for p in (self.smk.output if outputs is None else outputs)],
            code_hash=self.smk.params.get("code") if hasattr(self.smk.params, "get") else None, **extra,
        )


def _remove_sidecars(outputs) -> None:
    for out in outputs:
        provenance.sidecar_path(out).unlink(missing_ok=True)


@contextlib.contextmanager
def rule_run(smk: Any) -> Iterator[RuleRun]:
    """Context for a Snakemake script; see module docstring."""
    log_file = open(smk.log[0], "w", buffering=1) if len(smk.log) else sys.stderr
    logger = setup_logging(log_file)
    torch.set_num_threads(max(1, int(smk.threads)))
    run = RuleRun(smk, logger)
    logger.info("rule %s wildcards %s threads %d", smk.rule, dict(smk.wildcards), smk.threads)
    logger.info("settings %s", run.settings)
    with contextlib.redirect_stdout(log_file), contextlib.redirect_stderr(log_file):
        try:
            yield run
        except BaseException:
            logger.exception("rule %s failed after %.1f s", smk.rule, time.perf_counter() - run.start)
            _remove_sidecars(smk.output)  # Snakemake deletes a failed job's outputs, not these
            raise
        logger.info("rule %s finished in %.1f s", smk.rule, time.perf_counter() - run.start)
    if log_file is not sys.stderr:
        log_file.close()
