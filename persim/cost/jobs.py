"""The jobs of a profile as Snakemake builds them: rule, wildcards, settings, threads, dependencies."""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Job:
    """One job of the DAG.

    Attributes:
        jobid: index in :func:`load_jobs`' list.
        rule: rule name.
        wildcards: wildcard values (strings).
        settings: the job's ``params.settings`` (every result-changing setting; {} for rules without).
        threads: cores it asks for.
        benchmark: its benchmark file (where a run records its seconds), or None.
        deps: jobids it waits for.
    """

    jobid: int
    rule: str
    wildcards: dict[str, str]
    settings: dict[str, Any]
    threads: int
    benchmark: str | None
    deps: tuple[int, ...] = field(default=())


def load_jobs(configfiles: list[str | Path], snakefile: str | Path = "Snakefile",
              cores: int = 2, overrides: dict[str, Any] | None = None) -> tuple[list[Job], dict[str, Any]]:
    """Every job of the workflow for ``configfiles`` and ``overrides`` (Snakemake's ``--config``, e.g.
    ``{"envs": ["mountaincar", "cartpole"]}``), as if nothing had run (``--forceall``), and the merged
    config. Uses Snakemake's API (``snakemake -n`` builds the same DAG); nothing is executed.
    The DAG itself comes from ``Workflow._prepare_dag`` / ``_build_dag``, private to Snakemake 9
    (pyproject: >=9,<10); tests/test_cost.py fails first if an update moves them)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import (ConfigSettings, DAGSettings, OutputSettings, ResourceSettings,
                                          StorageSettings)

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf_api = api.workflow(resource_settings=ResourceSettings(cores=cores),
                              config_settings=ConfigSettings(configfiles=[Path(p) for p in configfiles],
                                                              config=dict(overrides or {})),
                              storage_settings=StorageSettings(), snakefile=Path(snakefile))
        workflow = wf_api.dag(dag_settings=DAGSettings(forceall=True)).workflow_api._workflow
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        dag = workflow.dag
        sm_jobs = sorted(dag.jobs, key=lambda j: (j.rule.name, str(j.wildcards)))
        index = {j: i for i, j in enumerate(sm_jobs)}
        jobs = [_job(i, j, [index[d] for d in dag.dependencies[j] if d in index]) for i, j in enumerate(sm_jobs)]
        return jobs, dict(workflow.config)


def _job(jobid: int, sm_job: Any, deps: list[int]) -> Job:
    params = dict(sm_job.params.items()) if hasattr(sm_job.params, "items") else {}
    settings = params.get("settings", {})
    return Job(jobid, sm_job.rule.name, {k: str(v) for k, v in sm_job.wildcards.items()},
               dict(settings) if isinstance(settings, dict) else {}, int(sm_job.threads),
               str(sm_job.benchmark) if sm_job.benchmark else None, tuple(sorted(deps)))
