"""PerSim's training loss and its gradient in one hand-derived pass, without autograd.

A PerSim minibatch step is a few dozen small tensor ops; at batch 64 (CartPole) building and
walking autograd's graph costs more than the arithmetic. This module computes the loss

    L = Σ_m (1/B) Σ_b Σ_d (Σ_l u_l v_{l,d} w_l − Δs_d)²        (per member m, standardised Δs)

and writes every parameter's ``.grad`` directly (the chain rule through the factor product, the
embeddings g_u / g_w and the ReLU MLPs g_v / g_w, written out once). The gradients equal
autograd's (tested in float64). On 2 CPU cores a training epoch runs ~1.4x (MountainCar, batch
512) and ~1.3x (CartPole, batch 64) faster than with ``loss.backward()``.
"""
from __future__ import annotations

import torch

from persim.models.ensemble import EnsembleLinear, EnsembleMLP


def _linears(mlp: EnsembleMLP) -> list[EnsembleLinear]:
    """The layers of an EnsembleMLP in order; every one but the last is followed by a ReLU."""
    return [m for m in mlp.net if isinstance(m, EnsembleLinear)]


def _mlp_forward(mlp: EnsembleMLP, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Output ``[M, B, out]`` and the input of every layer (kept for the backward pass)."""
    inputs = [x]
    layers = _linears(mlp)
    for layer in layers[:-1]:
        inputs.append(torch.baddbmm(layer.bias, inputs[-1], layer.weight.mT).relu_())
    last = layers[-1]
    return torch.baddbmm(last.bias, inputs[-1], last.weight.mT), inputs


def _mlp_backward(mlp: EnsembleMLP, inputs: list[torch.Tensor], grad: torch.Tensor) -> None:
    """Set the layers' ``.grad`` from the output gradient ``grad [M, B, out]`` (no input gradient)."""
    layers = _linears(mlp)
    for i in range(len(layers) - 1, -1, -1):
        layer, x = layers[i], inputs[i]
        out_features, in_features = layer.weight.shape[1:]
        if out_features <= in_features:  # the faster operand order on CPU (see persim.models.ensemble)
            layer.weight.grad = torch.bmm(grad.mT, x)
        else:
            layer.weight.grad = torch.bmm(x.mT, grad).mT.contiguous()
        layer.bias.grad = grad.sum(1, keepdim=True)
        if i > 0:  # through the layer and the ReLU whose output is x
            grad = torch.ops.aten.threshold_backward(torch.bmm(grad, layer.weight), x, 0)


def _lookup_backward(table, flat: torch.Tensor, grad: torch.Tensor) -> None:
    """Set an EnsembleEmbedding's ``.grad`` from the gradient of its looked-up rows ``[M, B, r]``."""
    m, n, dim = table.weight.shape
    table.weight.grad = torch.zeros_like(table.weight).view(m * n, dim).index_add_(
        0, flat, grad.reshape(-1, dim)).view(m, n, dim)
    table.bias.grad = grad.sum(1, keepdim=True)


@torch.no_grad()
def loss_and_grad(net, agents: torch.Tensor, states_n: torch.Tensor, actions: torch.Tensor,
                  target: torch.Tensor) -> torch.Tensor:
    """Loss (a scalar: members summed, batch averaged) with every parameter's ``.grad`` set.

    Args:
        net: a :class:`~persim.models.persim.PerSimNet`.
        agents: agent ids ``[M, B]`` (or ``[B]``, shared by the members).
        states_n: standardised states ``[M, B, D]``.
        actions: ids ``[M, B] | [B]`` (discrete) or raw actions ``[M, B, A] | [B, A]``.
        target: standardised Δs ``[M, B, D]``.
    """
    m, b, d = states_n.shape
    r = net.rank
    u, flat_u = net.g_u.lookup(agents)                                     # [M, B, r]
    if net.discrete:
        w, flat_w = net.g_w.lookup(actions)
    else:
        a = net.act_norm(actions)
        w, w_inputs = _mlp_forward(net.g_w, a.expand(m, -1, -1) if a.dim() == 2 else a)
    v, v_inputs = _mlp_forward(net.g_v, states_n)
    v = v.view(m, b, d, r)
    uw = u * w
    err = torch.matmul(v, uw.unsqueeze(-1)).squeeze(-1) - target            # [M, B, D]
    loss = err.square().sum() / b
    grad_pred = err.mul_(2.0 / b).unsqueeze(-1)                              # [M, B, D, 1]
    _mlp_backward(net.g_v, v_inputs, (grad_pred * uw.unsqueeze(2)).view(m, b, d * r))
    grad_uw = torch.matmul(grad_pred.mT, v).squeeze(2)                      # [M, B, r]
    _lookup_backward(net.g_u, flat_u, grad_uw * w)
    if net.discrete:
        _lookup_backward(net.g_w, flat_w, grad_uw * u)
    else:
        _mlp_backward(net.g_w, w_inputs, grad_uw * u)
    return loss
