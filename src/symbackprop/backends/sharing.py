"""Values the array printer computes once: a call or sum two elementwise steps make, a subexpression a step reads
twice, a function call an expression makes twice, and the constants of an expression folded into one."""

from __future__ import annotations

import sympy as sp

from .. import matexpr as mx


def folded(expr: sp.Expr) -> sp.Expr:
    """``expr`` with its irrational constants as floats, so that a product's numbers become one coefficient: GELU's
    ``(1/2)*sqrt(2)*Z/sqrt(pi)`` is ``0.3989...*Z``, one pass over the array where it was three."""
    constants = {a: sp.Float(a.evalf(17), 17) for a in expr.atoms(sp.Pow, sp.NumberSymbol)
                 if a.is_number and not a.is_Rational}
    return expr.xreplace(constants) if constants else expr


def shared_once(expr: sp.Expr, printer) -> str:
    """``expr`` as code, a function call it makes twice computed once: GELU's derivative reads tanh(u) in two terms,
    so it prints as ``(lambda _c0: ... _c0 ... _c0 ...)(np.tanh(u))`` (measured: a third of the time of evaluating
    tanh twice over a batch's array)."""
    shared, (body,) = sp.cse(expr, symbols=sp.numbered_symbols("_c"), optimizations=None)
    if not any(value.has(sp.Function) for _, value in shared):  # repeated arithmetic: cheap, printed as it is
        return printer.doprint(expr)
    code = printer.doprint(body)
    for name, value in reversed(shared):
        code = f"(lambda {name}: {code})({printer.doprint(value)})"
    return code


def repeated(x: mx.M) -> list[mx.M]:
    """The subexpressions ``x`` computes more than once (a layernorm's VJP reads γ ⊙ δ in two terms), inner ones
    first."""
    counts: dict = {}

    def walk(y):
        if y.op not in ("ref", "const", "ones"):
            counts[y] = counts.get(y, 0) + 1
            if counts[y] > 1:
                return
        for a in y.args:
            walk(a)
    walk(x)
    return sorted((y for y, n in counts.items() if n > 1), key=_size)


def _size(x: mx.M) -> int:
    return 1 + sum(_size(a) for a in x.args)


def scalar_of(step) -> sp.Expr:
    """An elementwise step of named values (an activation, its derivative) as one SymPy expression in their names;
    0 for any other step."""
    x = step.expr
    if step.role in ("gradient", "cost") or x is None or x.op != "fn" or any(a.op != "ref" for a in x.args):
        return sp.Integer(0)
    return folded(x.fn.expr).xreplace({v: sp.Symbol(str(a.key)) for v, a in zip(x.fn.vars, x.args)})


def shared_calls(steps) -> dict:
    """``{call: how many steps make it}`` for each function call, or sum, of named values that two or more
    elementwise steps make: GELU's ``tanh(0.0357·Z6³ + 0.798·Z6)`` in its forward value and its derivative, a
    layernorm's ``Z2 - mu3`` in its squared deviation and its normalised value.  Printed once, before the first
    (measured: two thirds of the passes of GELU's derivative over the MLP's array)."""
    users: dict = {}
    for s in steps:
        for call in sp.preorder_traversal(scalar_of(s)):
            if isinstance(call, sp.Function) or (isinstance(call, sp.Add) and
                                                 sum(not a.is_number for a in call.args) > 1):
                users.setdefault(call, set()).add(s.key)
    shared = {c: len(k) for c, k in users.items() if len(k) > 1}
    return {c: n for c, n in shared.items() if not any(o != c and o.has(c) for o in shared)}  # the outermost
