"""Numbers for a derivation: every layer value, local derivative and matrix-form step at given inputs.

This evaluates the derived expressions themselves (``lambdify``), not generated code, so it can
check the code and show a worked example equation by equation.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from . import matrix as mx
from . import naming
from .activations import SOFTMAX, a, z
from .costs import y


def _elementwise(expr: sp.Expr, *syms: sp.Symbol):
    fn = sp.lambdify(syms, expr, modules=[{"Heaviside": lambda x, h0=0.0: np.heaviside(x, h0)}, "numpy"])

    def apply(*vals):
        out = fn(*vals)
        return np.broadcast_to(np.asarray(out, dtype=float), np.broadcast(*vals).shape).copy()

    return apply


def evaluate(derivation, params: dict, X, Y) -> dict[str, np.ndarray]:
    """All quantities of the derivation for samples as columns of X (n_inputs, m) and Y.

    Keys: ``X``, ``Y``, params, ``Z1``, ``A1``, ..., ``C`` (mean cost), each local derivative
    (``dA1_dZ1`` elementwise; ``dC_dA2``), and every matrix-form step (``dC_dZ2``, ``dC_dW1``, ...),
    gradients averaged over the m samples.
    """
    net = derivation.network
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    m = X.shape[1]
    env: dict[str, np.ndarray] = {naming.INPUT: X, naming.TARGET: Y}
    env.update({k: np.asarray(v, dtype=float) for k, v in params.items()})
    prev = X
    for layer, dense in enumerate(net.layers, start=1):
        Z = env[naming.weight(layer)] @ prev + env[naming.bias(layer)]
        if dense.activation is SOFTMAX:
            e = np.exp(Z - Z.max(axis=0, keepdims=True))
            A = e / e.sum(axis=0, keepdims=True)
        else:
            A = _elementwise(dense.activation.expr, z)(Z)
            env[naming.local(naming.act(layer), naming.pre(layer))] = _elementwise(
                dense.activation.derivative, z)(Z)
        env[naming.pre(layer)], env[naming.act(layer)] = Z, A
        prev = A
    L = net.depth
    A_L = env[naming.act(L)]
    with np.errstate(divide="ignore", invalid="ignore"):
        per = _elementwise(net.cost.expr, a, y)(A_L, Y)
        env[naming.grad(naming.act(L))] = _elementwise(net.cost.derivative, a, y)(A_L, Y)
    env[naming.COST] = np.array(per.sum() / m)
    for layer in range(1, L + 1):  # the linear layer's local derivatives: W, the layer's input, ones
        Z, W, B, prev = naming.pre(layer), naming.weight(layer), naming.bias(layer), naming.act(layer - 1)
        if layer > 1:
            env[naming.local(Z, prev)] = env[W]
        env[naming.local(Z, W)] = env[prev]
        env[naming.local(Z, B)] = np.ones((net.widths()[layer], m))
    for step in derivation.steps:
        value = mx.evaluate(step.rhs, env)
        env[step.lhs] = value
    for layer in range(1, L + 1):
        for p in (naming.weight(layer), naming.bias(layer)):
            g = env[naming.grad(p)]
            env[naming.grad(p)] = g / m if p.startswith("W") else g.sum(axis=1, keepdims=True) / m
    return env


def gradients(derivation, params: dict, X, Y) -> tuple[float, dict[str, np.ndarray]]:
    """``(cost, grads)`` from the matrix form, in the compiled callable's conventions."""
    env = evaluate(derivation, params, X, Y)
    return float(env[naming.COST]), {p: env[naming.grad(p)] for p in derivation.network.shapes()}
