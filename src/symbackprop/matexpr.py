"""The matrix-expression vocabulary a Program is written in: named, shaped nodes that every printer walks.

Shapes are per sample (vectors are columns); a batch adds samples as columns.  The vocabulary:
``ref`` (a named value), ``T``, ``dot``, ``had`` (⊙), ``add``, ``sub``, ``fn`` (a SymPy scalar function
applied entry by entry, a (1×1) argument broadcast), ``colsum`` and ``colmax`` (over a column's entries),
``ones`` and ``const``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .naming import Deriv, Key


@dataclass(frozen=True)
class ScalarFn:
    """A scalar SymPy expression in ``vars``, applied entry by entry; ``name`` is how it is shown."""

    name: str
    expr: sp.Expr
    vars: tuple[sp.Symbol, ...]

    def at(self, *args) -> sp.Expr:
        return self.expr.xreplace(dict(zip(self.vars, args)))


@dataclass(frozen=True)
class M:
    """One node of a matrix expression."""

    op: str
    args: tuple = ()
    key: Key | Deriv | None = None
    shape: tuple[int, int] = (1, 1)
    fn: ScalarFn | None = None
    value: float = 0.0

    def __str__(self) -> str:
        return to_text(self)


def tree(x: M) -> dict:
    """A matrix expression as plain data (JSON): ``{"op", "shape", "args"}`` with ``name`` for a reference,
    ``fn`` and ``scalar`` (a SymPy-parsable string in the function's variables) for a function, ``value``."""
    out = {"op": x.op, "shape": list(x.shape)}
    if x.key is not None:
        out["name"] = str(x.key)
    if x.fn is not None:
        out["fn"] = x.fn.name
        out["vars"] = [str(v) for v in x.fn.vars]
        out["scalar"] = str(x.fn.expr)
    if x.op == "const":
        out["value"] = x.value
    if x.args:
        out["args"] = [tree(a) for a in x.args]
    return out


def ref(key, shape) -> M:
    return M("ref", key=key, shape=tuple(shape))


def T(x: M) -> M:
    return M("T", (x,), shape=(x.shape[1], x.shape[0]))


def dot(x: M, y: M) -> M:
    if x.shape[1] != y.shape[0]:  # pragma: no cover - a bug in a layer, not a user error
        raise ValueError(f"shapes {x.shape} and {y.shape} do not multiply")
    return M("dot", (x, y), shape=(x.shape[0], y.shape[1]))


def _wide(*xs: M) -> tuple[int, int]:
    return max((x.shape for x in xs), key=lambda s: s[0] * s[1])


def had(x: M, y: M) -> M:
    return M("had", (x, y), shape=_wide(x, y))


def add(*xs: M) -> M:
    return xs[0] if len(xs) == 1 else M("add", tuple(xs), shape=_wide(*xs))


def sub(x: M, y: M) -> M:
    return M("sub", (x, y), shape=_wide(x, y))


def fn(f: ScalarFn, *args: M) -> M:
    return M("fn", tuple(args), shape=_wide(*args), fn=f)


def colsum(x: M) -> M:
    return M("colsum", (x,), shape=(1, x.shape[1]))


def colmax(x: M) -> M:
    return M("colmax", (x,), shape=(1, x.shape[1]))


def bmean(x: M) -> M:
    """The mean over the batch (the samples of a batch), entry by entry: the same for every sample."""
    return M("bmean", (x,), shape=x.shape)


def ones(shape) -> M:
    return M("ones", shape=tuple(shape))


def const(value: float, shape=(1, 1)) -> M:
    return M("const", shape=tuple(shape), value=float(value))


def refs(x: M) -> list:
    """The keys ``x`` reads, in order of first use."""
    if x.op == "ref":
        return [x.key]
    out = []
    for arg in x.args:
        out += [k for k in refs(arg) if k not in out]
    return out


def substitute(x: M, defs: dict) -> M:
    """Replace references by their definitions, recursively (composes a chain)."""
    if x.op == "ref":
        return substitute(defs[x.key], defs) if x.key in defs else x
    return M(x.op, tuple(substitute(a, defs) for a in x.args), x.key, x.shape, x.fn, x.value)


PREC = {"ref": 9, "ones": 9, "const": 9, "fn": 9, "colsum": 9, "colmax": 9, "bmean": 9, "T": 8, "had": 5, "dot": 5,
        "add": 3, "sub": 3}


def render(x: M, leaf, ops: dict, parent: int = 0) -> str:
    """Print ``x`` with ``leaf(key)`` for references and ``ops`` templates for the rest (infix joins)."""
    if x.op == "ref":
        return leaf(x.key)
    if x.op == "ones":
        return ops["ones"]
    if x.op == "const":
        return ops["const"].format(x.value)
    if x.op == "T":
        return ops["T"].format(render(x.args[0], leaf, ops, 8))
    if x.op in ("fn", "colsum", "colmax", "bmean"):
        inner = ", ".join(render(a, leaf, ops, 0) for a in x.args)
        return ops[x.op].format(inner, name=x.fn.name if x.fn else "")
    prec = PREC[x.op]
    text = ops[x.op].join(render(a, leaf, ops, prec + 1) for a in x.args)
    return f"({text})" if prec < parent else text


TEXT = {"T": "{}ᵀ", "dot": " · ", "had": " ⊙ ", "add": " + ", "sub": " - ", "fn": "{name}({})",
        "colsum": "Σ({})", "colmax": "max({})", "bmean": "mean_batch({})", "ones": "1", "const": "{:g}"}


def to_text(x: M) -> str:
    """``W2ᵀ · (dC_dA2 ⊙ dA2_dZ2)``."""
    return render(x, str, TEXT)
