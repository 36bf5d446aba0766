"""Figures: t-SNE of learned agent factors (paper Fig. 1/5) and predicted-vs-true trajectories (Fig. 2/4)."""
from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from persim.envs import get_spec  # noqa: E402
from persim.reporting.labels import ENV_LABELS  # noqa: E402

STATE_LABELS = {
    "mountaincar": ["position", "velocity"],
    "cartpole": ["cart position", "cart velocity", "pole angle", "pole angular velocity"],
}


def tsne_embedding(factors: np.ndarray, seed: int, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE of agent factors ``[N, F]`` (``[N, 2]``); perplexity is capped below N."""
    from sklearn.manifold import TSNE

    n = factors.shape[0]
    tsne = TSNE(n_components=2, perplexity=min(perplexity, max(2.0, (n - 1) / 3)), random_state=seed, init="pca")
    return tsne.fit_transform(factors)


def plot_agent_tsne(env: str, embedding: np.ndarray, agents: pd.DataFrame, path: str, title_extra: str = "") -> None:
    """One panel per covariate, points coloured by its value; test agents ringed."""
    spec = get_spec(env)
    fig, axes = plt.subplots(1, spec.n_covariates, figsize=(4.6 * spec.n_covariates, 4), squeeze=False)
    test = agents["test_agent"].to_numpy() > 0
    for ax, cov in zip(axes[0], spec.covariates):
        sc = ax.scatter(embedding[:, 0], embedding[:, 1], c=agents[cov], cmap="viridis", s=14)
        ax.scatter(embedding[test, 0], embedding[test, 1], facecolors="none", edgecolors="red", s=60, label="test agents")
        fig.colorbar(sc, ax=ax, label=cov)
        ax.set_title(f"{ENV_LABELS[env]}: agent factors coloured by {cov}")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(loc="best", fontsize=8)
    if title_extra:
        fig.suptitle(title_extra, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_trajectories(env: str, curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str) -> None:
    """``curves``: label -> (true ``[T, D]``, predicted ``[T, D]``); one row per label, one column per dim."""
    labels = STATE_LABELS.get(env) or [f"s{i}" for i in range(next(iter(curves.values()))[0].shape[1])]
    fig, axes = plt.subplots(len(curves), len(labels), figsize=(3.4 * len(labels), 2.6 * len(curves)), squeeze=False)
    for row, (name, (true, pred)) in enumerate(curves.items()):
        for d, ax in enumerate(axes[row]):
            ax.plot(true[:, d], color="black", label="true")
            ax.plot(pred[:, d], color="tab:orange", alpha=0.8, linestyle="--", label="PerSim")
            ax.set_title(textwrap.fill(f"{name}: {labels[d]}", 44), fontsize=9)
            ax.set_xlabel("steps ahead")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{ENV_LABELS[env]}: open-loop predictions from the true actions", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
