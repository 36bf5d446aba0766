"""What a table, figure or report job does beyond its start-up, run small for the cost calibration.

A job of these rules reads result files and spends its seconds in pandas and matplotlib (and, for
the t-SNE figure, scikit-learn). :func:`workload` runs the same package functions on inputs made
here, so that :meth:`persim.cost.calibrate.Calibrator.report` can time one job of each family in a
fresh process (its imports of matplotlib, scikit-learn and the reporting modules included: a job
server preloads neither). Families (:data:`FAMILIES`):

* ``tables`` — a table job: read ``n_inputs`` per-cell reward result files (one CSV each, as a
  run's evaluations write them), write the paper-shaped LaTeX reward table of each env, judge every
  paper cell against them and render the Markdown and HTML pages (the reporting code's pandas work;
  a table job's cost grows with its input files);
* ``comparison`` — the same, plus the bootstrap intervals over seeds (``n_boot`` resamples) that the
  ``comparison`` rule adds;
* ``tsne`` — the t-SNE of ``n_agents`` agent factors, its figure and the held-out R² of the covariates
  (``figure_tsne``);
* ``trajectories`` — the open-loop prediction figure of three agents' 90-step curves (``figure_trajectories``;
  its simulator and policy rollouts, a few hundred model steps, are not timed).

Only standard-library imports at module level: the calibration starts its timer before importing
anything of this package.
"""
from __future__ import annotations

from pathlib import Path

TABLE_FAMILIES = ("tables", "comparison")  # timed per input file and per job; the figures per job
FAMILIES = (*TABLE_FAMILIES, "tsne", "trajectories")
FACTOR_RANK = 5      # columns of the synthetic agent factors (MountainCar 3, CartPole 5 in the paper)
CURVES, STEPS = 3, 90  # curves and steps of the trajectories figure (the paper's Figure 4)


def workload(family: str, env: str, size: int, outdir: str | Path, seed: int = 0, n_boot: int = 1000) -> None:
    """Run one job's worth of ``family``'s work for ``env``, writing its outputs under ``outdir``.
    ``size``: input files of a table job, the t-SNE's agents (unused for the trajectories)."""
    outdir = Path(outdir)
    if family in TABLE_FAMILIES:
        _tables(env, size, outdir, seed, n_boot if family == "comparison" else 0)
    elif family == "tsne":
        _tsne(env, size, outdir, seed)
    elif family == "trajectories":
        _trajectories(env, outdir, seed)
    else:
        raise ValueError(f"unknown report family {family!r}; known: {FAMILIES}")


def write_inputs(env: str, n_inputs: int, outdir: Path, seed: int = 0) -> list[Path]:
    """``n_inputs`` reward result files under ``outdir``, made up: file i holds the cell i of every
    env x dataset x method in turn (``env`` first), its five test agents x 2 seeds."""
    import itertools

    import numpy as np
    import pandas as pd

    from persim.methods import METHOD_LABELS
    from persim.reporting.labels import ENV_LABELS

    envs = [env, *[e for e in ENV_LABELS if e != env]]
    cells = itertools.cycle(itertools.product(envs, ("pure", "random", "pure_eps20", "pure_eps40"), METHOD_LABELS))
    rng, paths = np.random.default_rng(seed), []
    for i, (e, dataset, method) in zip(range(n_inputs), cells):
        seeds = rng.normal(-100.0, 10.0, size=(5, 2))
        frame = pd.DataFrame({"env": e, "dataset": dataset, "method": method, "agent": range(1, 6),
                              "agent_id": range(5), "covariates": "gravity=0.001", "reward": seeds.mean(1),
                              "reward_std": seeds.std(1), "n_seeds": 2, "n_episodes": 2,
                              "seed_returns": [";".join(f"{x:.3f}" for x in row) for row in seeds]})
        paths.append(outdir / f"reward_{i}.csv")
        frame.to_csv(paths[-1], index=False)
    return paths


def _tables(env: str, n_inputs: int, outdir: Path, seed: int, n_boot: int) -> None:
    from persim.reporting.compare import compare, load_results, summarize, to_markdown
    from persim.reporting.html import comparison_html
    from persim.reporting.intervals import interval_table, seed_runs
    from persim.reporting.labels import ENV_LABELS
    from persim.reporting.reward_tables import reward_latex, reward_long

    inputs = sorted(outdir.glob("reward_*.csv")) or write_inputs(env, n_inputs, outdir, seed)
    reward = load_results(inputs).drop_duplicates(["env", "dataset", "method", "agent"], keep="last")
    long = reward_long(reward)
    for e in ENV_LABELS:  # the paper-shaped LaTeX a table rule writes per env
        (outdir / f"table_{e}.tex").write_text(reward_latex(long, e))
    cells = compare(None, reward)
    summary = summarize(cells)
    intervals = (interval_table(seed_runs(reward), ["env", "dataset", "method", "agent"], "seed_return", "seed",
                                n_boot=n_boot, alpha=0.05, seed=seed) if n_boot else None)
    cells.to_csv(outdir / "comparison.csv", index=False)
    (outdir / "comparison.md").write_text(to_markdown(cells, summary))
    (outdir / "comparison.html").write_text(comparison_html(cells, summary, intervals))


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
