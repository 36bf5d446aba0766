"""Batched ensemble layers: M independent networks stored as stacked weights.

Every tensor carries the member axis first: inputs ``[M, B, in]`` -> outputs ``[M, B, out]``. One
batched matrix product evaluates all members at once, so an ensemble of 5 costs one kernel per
layer instead of 5 (on CPU and CUDA alike).

Weights are stored like ``nn.Linear``'s, ``[M, out, in]``. Internally the layers compute in
*feature-major* layout: a layer returns ``[M, B, out]`` as a transposed view of a contiguous
``[M, out, B]`` result (``W @ x^T``), and accepts such views as input without copying. The
products of these models are narrow (e.g. 256 -> 6 outputs, or 2 -> 256 inputs); MKL runs them
2-3x faster with the long batch axis as the output's columns, and a chain of layers, ReLUs and
their backward passes then all see one consistent memory layout (an elementwise backward over
mismatched layouts is ~15x slower). Measured with ``python -m persim.benchmark``.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class _EnsembleLinearFn(torch.autograd.Function):
    """``y^T = act(W @ x^T + b^T)`` for ``x^T [M, in, B]``, ``W [M, out, in]``, ``b [M, 1, out] | None``
    and ``act`` ReLU or identity; returns ``y^T [M, out, B]`` (contiguous).

    The ReLU is applied in place inside the function (an in-place op on the transposed view would
    make autograd copy the whole activation back and forth). The backward keeps the input gradient
    feature-major (the layout of the activations it meets) and picks the operand order of the
    weight gradient by shape: on CPU a product whose result is wide (fewer rows than columns) runs
    up to 6x faster than its transpose for these layers."""

    @staticmethod
    def forward(ctx, x_t: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                relu: bool) -> torch.Tensor:
        y_t = torch.bmm(weight, x_t) if bias is None else torch.baddbmm(bias.mT, weight, x_t)
        if relu:
            y_t.relu_()
        ctx.save_for_backward(x_t, weight, y_t if relu else None)
        ctx.has_bias, ctx.relu = bias is not None, relu
        return y_t

    @staticmethod
    def backward(ctx, grad_t: torch.Tensor):
        x_t, weight, y_t = ctx.saved_tensors
        if ctx.relu:
            grad_t = torch.ops.aten.threshold_backward(grad_t, y_t, 0)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.bmm(weight.mT, grad_t)  # [M, in, B]
        if ctx.needs_input_grad[1]:
            out_features, in_features = weight.shape[1:]
            if out_features <= in_features:
                grad_w = torch.bmm(grad_t, x_t.mT)  # [M, out, in]
            else:
                grad_w = torch.bmm(x_t, grad_t.mT).mT.contiguous()  # computed as [M, in, out]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_t.sum(2).unsqueeze(1)  # [M, 1, out]
        return grad_x, grad_w, grad_b, None


class EnsembleLinear(nn.Module):
    """M linear maps ``[M, B, in] -> [M, B, out]``, each initialised like ``nn.Linear``.

    ``weight`` is ``[M, out, in]`` and ``bias`` ``[M, 1, out]``; ``relu=True`` applies a ReLU to the
    output (fused into the layer). The output is a transposed view of a contiguous ``[M, out, B]``
    tensor (see the module docstring); call ``.contiguous()`` before ``.view()`` on it, or use
    ``.reshape()``.
    """

    def __init__(self, n_members: int, in_features: int, out_features: int, bias: bool = True,
                 relu: bool = False):
        super().__init__()
        self.relu = relu
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(n_members, out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_members, 1, out_features).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _EnsembleLinearFn.apply(x.mT, self.weight, self.bias, self.relu).mT


class EnsembleMLP(nn.Module):
    """M MLPs with ReLU hidden layers: ``[M, B, in] -> [M, B, out]``; ``hidden=()`` is linear.

    The output is feature-major like :class:`EnsembleLinear`'s."""

    def __init__(self, n_members: int, in_features: int, out_features: int, hidden: tuple[int, ...] = ()):
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        n_layers = len(sizes) - 1
        self.net = nn.Sequential(*(EnsembleLinear(n_members, a, b, relu=i < n_layers - 1)
                                   for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
