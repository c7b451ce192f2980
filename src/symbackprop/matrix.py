"""A small matrix-expression tree for the layer-by-layer (δ) form of backprop, with its renderers.

SymPy's own matrix calculus cannot differentiate a composed network, and its matrix printers
reorder Hadamard products, so the matrix form is built here from the local derivatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .naming import latex_name


@dataclass(frozen=True)
class Mat:
    """A node: ``sym`` (a named matrix), ``T``, ``dot``, ``had`` (⊙), ``sub``, ``vjp`` (softmax)."""

    op: str
    args: tuple = ()
    name: str = ""
    shape: tuple[int, int] = (1, 1)

    def __str__(self) -> str:
        return to_text(self)


def sym(name: str, shape: tuple[int, int]) -> Mat:
    return Mat("sym", name=name, shape=shape)


def T(x: Mat) -> Mat:
    return Mat("T", (x,), shape=(x.shape[1], x.shape[0]))


def dot(x: Mat, y: Mat) -> Mat:
    if x.shape[1] != y.shape[0]:  # pragma: no cover - a bug in derive, not a user error
        raise ValueError(f"shapes {x.shape} and {y.shape} do not multiply")
    return Mat("dot", (x, y), shape=(x.shape[0], y.shape[1]))


def had(x: Mat, y: Mat) -> Mat:
    return Mat("had", (x, y), shape=x.shape)


def sub(x: Mat, y: Mat) -> Mat:
    return Mat("sub", (x, y), shape=x.shape)


def vjp(jacobian: Mat, g: Mat, out: Mat) -> Mat:
    """``Jᵀ·g`` for a softmax Jacobian ``J = diag(A) - A·Aᵀ`` (``out`` is ``A``)."""
    return Mat("vjp", (jacobian, g, out), shape=g.shape)


def substitute(x: Mat, defs: dict[str, Mat]) -> Mat:
    """Replace named leaves by their definitions, recursively (composes the chain)."""
    if x.op == "sym":
        return substitute(defs[x.name], defs) if x.name in defs else x
    return Mat(x.op, tuple(substitute(arg, defs) for arg in x.args), x.name, x.shape)


_PREC = {"sym": 9, "T": 8, "had": 5, "dot": 5, "sub": 3, "vjp": 8}


def _render(x: Mat, leaf, ops: dict, parent: int = 0) -> str:
    if x.op == "sym":
        return leaf(x.name)
    if x.op == "T":
        inner = _render(x.args[0], leaf, ops, 8)
        return ops["T"].format(inner)
    if x.op == "vjp":
        return ops["vjp"].format(*(_render(arg, leaf, ops, 8) for arg in x.args))
    prec = _PREC[x.op]
    text = ops[x.op].join(_render(arg, leaf, ops, prec + 1) for arg in x.args)
    return f"({text})" if prec < parent else text


_TEXT = {"T": "{}ᵀ", "dot": " · ", "had": " ⊙ ", "sub": " - ", "vjp": "{0}ᵀ · {1}"}
_LATEX = {"T": "{{{}}}^{{\\mathsf{{T}}}}", "dot": " \\cdot ", "had": " \\odot ", "sub": " - ",
          "vjp": "{{{0}}}^{{\\mathsf{{T}}}} \\cdot {1}"}


def to_text(x: Mat) -> str:
    """``W2ᵀ · (dC_dA2 ⊙ dA2_dZ2)``."""
    return _render(x, str, _TEXT)


def to_latex(x: Mat) -> str:
    return _render(x, latex_name, _LATEX)


def to_numpy(x: Mat, leaf=str) -> str:
    """NumPy source for the node; ``vjp`` uses the softmax identity ``A ⊙ (g - Aᵀg)`` per column."""
    ops = {"T": "{}.T", "dot": " @ ", "had": " * ", "sub": " - ",
           "vjp": "{2} * ({1} - ({2} * {1}).sum(axis=0, keepdims=True))"}
    return _render(x, leaf, ops)


def evaluate(x: Mat, env: dict[str, np.ndarray]) -> np.ndarray:
    """Evaluate numerically; ``env`` maps leaf names to arrays (samples as columns)."""
    if x.op == "sym":
        return env[x.name]
    if x.op == "vjp":  # the Jacobian itself is never formed: Jᵀg = A ⊙ (g - Aᵀg)
        g, out = evaluate(x.args[1], env), evaluate(x.args[2], env)
        return out * (g - np.sum(out * g, axis=0, keepdims=True))
    vals = [evaluate(arg, env) for arg in x.args]
    if x.op == "T":
        return vals[0].T
    if x.op == "dot":
        return vals[0] @ vals[1]
    if x.op == "had":
        return vals[0] * vals[1]
    if x.op == "sub":
        return vals[0] - vals[1]
    raise ValueError(f"unknown matrix op {x.op}")  # pragma: no cover


@dataclass(frozen=True)
class Step:
    """One equation of the matrix form: ``lhs = rhs``, with ``rhs`` of shape ``shape``."""

    lhs: str
    rhs: Mat

    @property
    def shape(self) -> tuple[int, int]:
        return self.rhs.shape

    def __str__(self) -> str:
        r, c = self.shape
        return f"{self.lhs} = {to_text(self.rhs)}   ({r}×{c})"
