"""What a table, figure or report job does beyond its start-up, run small for the cost calibration.

A job of these rules reads result files and spends its seconds in pandas and matplotlib (and, for
the t-SNE figure, scikit-learn). :func:`workload` runs the same package functions on inputs made
here, so that :meth:`persim.cost.calibrate.Calibrator.report` can time one job of each family in a
fresh process (its imports of matplotlib, scikit-learn and the reporting modules included: a job
server preloads neither). Families (:data:`FAMILIES`):

* ``tables`` — the comparison of every paper cell with a run's (here: none of ours, so all cells
  read "missing"), its summary, Markdown and HTML page (the largest table job, ``comparison``);
* ``tsne`` — the t-SNE of ``n_agents`` agent factors, its figure and the held-out R² of the covariates
  (``figure_tsne``);
* ``trajectories`` — the open-loop prediction figure of three agents' 90-step curves (``figure_trajectories``;
  its simulator and policy rollouts, a few hundred model steps, are not timed).

Only standard-library imports at module level: the calibration starts its timer before importing
anything of this package.
"""
from __future__ import annotations

from pathlib import Path

FAMILIES = ("tables", "tsne", "trajectories")
FACTOR_RANK = 5      # columns of the synthetic agent factors (MountainCar 3, CartPole 5 in the paper)
CURVES, STEPS = 3, 90  # curves and steps of the trajectories figure (the paper's Figure 4)


def workload(family: str, env: str, n_agents: int, outdir: str | Path, seed: int = 0) -> None:
    """Run one job's worth of ``family``'s work for ``env`` (``n_agents``: the t-SNE's points), writing
    its outputs under ``outdir``."""
    outdir = Path(outdir)
    if family == "tables":
        _tables(outdir)
    elif family == "tsne":
        _tsne(env, n_agents, outdir, seed)
    elif family == "trajectories":
        _trajectories(env, outdir, seed)
    else:
        raise ValueError(f"unknown report family {family!r}; known: {FAMILIES}")


def _tables(outdir: Path) -> None:
    from persim.reporting.compare import compare, summarize, to_markdown
    from persim.reporting.html import comparison_html

    cells = compare(None, None)
    summary = summarize(cells)
    cells.to_csv(outdir / "comparison.csv", index=False)
    (outdir / "comparison.md").write_text(to_markdown(cells, summary))
    (outdir / "comparison.html").write_text(comparison_html(cells, summary))


def _tsne(env: str, n_agents: int, outdir: Path, seed: int) -> None:
    import numpy as np

    from persim.envs import get_spec
    from persim.envs.agents import sample_agents
    from persim.reporting.claims import factor_regression_r2
    from persim.reporting.figures import plot_agent_tsne, tsne_embedding

    spec = get_spec(env)
    agents = sample_agents(spec, n_agents, seed)
    factors = np.random.default_rng(seed).normal(size=(n_agents, FACTOR_RANK))
    plot_agent_tsne(env, tsne_embedding(factors, seed=seed), agents, str(outdir / "tsne.png"))
    factor_regression_r2(factors, agents[list(spec.covariates)], seed=seed)


def _trajectories(env: str, outdir: Path, seed: int) -> None:
    import numpy as np

    from persim.envs import get_spec
    from persim.reporting.figures import plot_trajectories

    rng, dim = np.random.default_rng(seed), get_spec(env).obs_dim
    curves = {f"agent {k}": (rng.normal(size=(STEPS, dim)).cumsum(0), rng.normal(size=(STEPS, dim)).cumsum(0))
              for k in range(1, CURVES + 1)}
    plot_trajectories(env, curves, str(outdir / "trajectories.png"))
