"""PerSim's one-step model with the agent and action factors folded into the state encoder, for MPC.

For discrete actions, a planning step asks the same question millions of times with only a
handful of distinct (agent, action) pairs: the agent is fixed per episode and an action is one of
k. Since the prediction is linear in the last state-encoder layer,

    Δs_d = σ_d · Σ_l u_l w_l(a) (W2[d, l] · h + b2[d, l]) + μ_d
         = W_eff[a, d] · h + b_eff[a, d],        h = ReLU(W1 (s - μ_s) / σ_s + b1),

the factor product, the delta de-standardisation (μ, σ) and the state standardisation (μ_s, σ_s)
fold into per-(member, episode) weights ``W1' [M, H, D]`` and ``W_eff [M, k·D, H]``. One step is
then two batched matrix products over ``[M·E]`` (member, episode) pairs and a gather of each
candidate's action. They run feature-major (``W @ h`` with the C candidates as the result's
columns), which MKL computes 2-3x faster than ``h @ W^T`` for these narrow layers, and the first
layer's bias rides along as a row of ones instead of a broadcast copy over ``[H, C]``. The result
equals :meth:`PerSimNet.step` up to float rounding (tested). Measured with ``python -m
persim.benchmark`` (which prints both): one MountainCar / CartPole MPC step (M=5 x 1000 candidates
x horizon 50) takes ~1.5x less time than on :meth:`PerSimNet.step` on 2 cores. Continuous actions
(HalfCheetah) pass through an action MLP and do not fold; they use :meth:`PerSimNet.step`.

On CPU the step runs as one fused C kernel (:mod:`persim.models.native_step`) where it can be built:
it keeps each block of candidates' hidden activations in registers instead of writing ``[H, C]`` to
memory and reading it back, ~3x faster than the two products below (``python -m persim.benchmark``
times both). The torch form remains the reference, CUDA's path and the fallback.

Memory: the hidden activations of one step are ``M x E x H x C`` floats, 2.6 GB for the paper's
reward evaluation (5 members x 500 lock-step episodes x 256 x 1000 candidates). A step therefore
runs over chunks of episodes whose activations stay within ``max_hidden`` elements (default
2^25, 128 MiB in float32); rows are independent, so the result does not depend on the chunking
(tested). Every quick-profile evaluation fits in one chunk.
"""
from __future__ import annotations

from typing import Callable

import torch

from persim.models import native_step
from persim.models.ensemble import EnsembleLinear

StepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
MAX_HIDDEN = 2 ** 25  # hidden activations per chunk of episodes (elements)


def _state_layers(net) -> list[EnsembleLinear]:
    """The linear layers of the state encoder g_v, in order."""
    return [m for m in net.g_v.net if isinstance(m, EnsembleLinear)]


def can_fold(net) -> bool:
    """Whether ``net`` (a :class:`~persim.models.persim.PerSimNet`) has the foldable architecture:
    discrete actions and a state encoder with exactly one hidden layer."""
    return bool(net.discrete) and len(_state_layers(net)) == 2


def folded_form(net) -> str:
    """Which form :func:`folded_step` runs for ``net`` here (for logs and provenance records)."""
    w = _state_layers(net)[0].weight
    if native_step.usable(w.device, net.obs_dim, net.g_w.weight.shape[1], w.dtype):
        return native_step.describe()
    return f"folded torch form ({w.device.type}, {str(w.dtype).removeprefix('torch.')}; {native_step.describe()})"


@torch.no_grad()
def folded_step(net, agents: torch.Tensor, n_rows: int, max_hidden: int = MAX_HIDDEN) -> StepFn:
    """Step function for episode-major rows: episode ``e`` (agent ``agents[e]``) owns rows
    ``e * n_rows ... (e + 1) * n_rows - 1``.

    Args:
        net: a discrete-action PerSimNet with one hidden state-encoder layer (:func:`can_fold`).
        agents: agent ids ``[E]`` (int64), one per episode.
        n_rows: rows (candidates) per episode, C.
        max_hidden: most hidden activations (M x episodes x H x C elements) one chunk of episodes
            may hold; a step covers the E episodes in chunks of that size.

    Returns:
        ``step(states [M, E*C, D], actions [E*C]) -> next states [M, E*C, D]`` (raw units).
    """
    if not can_fold(net):
        raise ValueError("folded_step needs discrete actions and a state encoder with one hidden layer")
    m, e, d, hidden = net.n_members, len(agents), net.obs_dim, _state_layers(net)[0].weight.shape[1]
    w1 = _first_layer(net)
    if native_step.usable(w1.device, d, net.g_w.weight.shape[1], w1.dtype):
        return native_step.native_folded_step(w1, *_output_layer(net, agents), n_rows)
    per_chunk = max(1, max_hidden // (m * hidden * n_rows))
    chunks = [(e0, min(e, e0 + per_chunk), _torch_weights(w1, *_output_layer(net, agents[e0:e0 + per_chunk])))
              for e0 in range(0, e, per_chunk)]

    def step(states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        c = states.shape[1] // e
        states4, actions2 = states.view(m, e, c, d), actions.view(e, c)
        out = torch.empty_like(states4)
        for e0, e1, weights in chunks:
            torch.add(states4[:, e0:e1], _folded_delta(weights, states4[:, e0:e1], actions2[e0:e1]),
                      out=out[:, e0:e1])
        return out.view(m, e * c, d)

    return step


def _first_layer(net) -> torch.Tensor:
    """Layer 1 with the state standardisation folded in, W1' = W1 / σ_s, b1' = b1 - W1' μ_s, the bias
    as the last input column: ``[M, H, D+1]``."""
    layer1 = _state_layers(net)[0]
    d = net.obs_dim
    w1 = layer1.weight / net.obs_norm.std                                    # [M, H, D]
    b1 = layer1.bias.mT - w1 @ net.obs_norm.mean.view(1, d, 1)               # [M, H, 1]
    return torch.cat([w1, b1], 2)


def _output_layer(net, agents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer 2 with u(agent) * w(action) and the delta de-standardisation folded in, per (member,
    episode) of ``agents [E]``: ``w_eff [M, E, k*D, H]`` (row ``a*D + d``) and ``b_eff [M, E, k*D]``."""
    layer2 = _state_layers(net)[1]
    m, e, d, r = net.n_members, len(agents), net.obs_dim, net.rank
    hidden = layer2.weight.shape[2]
    # u(agent) * w(action) per (member, episode, action): [M, E, k, r]
    u = net.g_u(agents)                                                      # [M, E, r]
    w_all = net.g_w.weight + net.g_w.bias                                    # [M, k, r]
    uw = u.unsqueeze(2) * w_all.unsqueeze(1)
    k = uw.shape[2]
    w2 = layer2.weight.view(m, d, r, hidden)                                 # row d*r + l of [M, D*r, H]
    b2 = layer2.bias.view(m, d, r)
    sd, mu = net.delta_norm.std, net.delta_norm.mean
    w_eff = torch.einsum("mekr,mdrh->mekdh", uw, w2) * sd.view(1, 1, 1, d, 1)  # [M, E, k, D, H]
    b_eff = torch.einsum("mekr,mdr->mekd", uw, b2) * sd + mu                   # [M, E, k, D]
    return w_eff.reshape(m, e, k * d, hidden), b_eff.reshape(m, e, k * d)


def _torch_weights(w1: torch.Tensor, w_eff: torch.Tensor, b_eff: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The torch form's batched weights over ``[M*E]``: ``w1 [M*E, H, D+1]``, ``w_eff [M*E, k*D, H]``,
    ``b_eff [M*E, k*D, 1]`` (the bias rides along as an extra input row of ones: a broadcast bias copy
    over ``[H, C]`` costs more than the product itself with D = 2-4 inputs)."""
    m, e, kd, hidden = w_eff.shape
    w1 = w1.unsqueeze(1).expand(m, e, hidden, w1.shape[2]).reshape(m * e, hidden, w1.shape[2])
    return w1, w_eff.reshape(m * e, kd, hidden), b_eff.reshape(m * e, kd, 1)


def _folded_delta(weights, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Δs ``[M, E, C, D]`` of the taken actions ``[E, C]`` from states ``[M, E, C, D]`` (raw units)."""
    w1, w_eff, b_eff = weights
    m, e, c, d = states.shape
    k = w_eff.shape[1] // d
    s_t = torch.ones(m * e, d + 1, c, dtype=states.dtype, device=states.device)
    s_t[:, :d] = states.permute(0, 1, 3, 2).reshape(m * e, d, c)                  # [M*E, D+1, C]
    h_t = torch.bmm(w1, s_t).relu_()                                              # [M*E, H, C]
    out = torch.baddbmm(b_eff, w_eff, h_t).view(m, e, k, d, c)                     # Δs for every action
    idx = actions.reshape(1, e, 1, 1, c).expand(m, e, 1, d, c)
    return out.gather(2, idx).view(m, e, d, c).permute(0, 1, 3, 2)
