"""Lowering Program steps to loops over each layer's dimensions, for the per-sample targets (numba, C, JS).

One walker writes every loop nest; a target (:class:`Syntax`) only says how it spells a loop, an
array entry, a local scalar and a scalar expression.  A step of shape (r, c) becomes a loop nest over
its entries; a product's inner dimension a reduction loop; nothing is unrolled by hand (the compilers
unroll the small constant loops themselves), so code grows with depth, not with width.
"""

from __future__ import annotations

import itertools
import math

import sympy as sp

from .. import matexpr as mx
from ..program import Step


class Syntax:
    """How a target spells loops, locals, assignments and numbers: templates a target overrides (these are
    Python's), and the SymPy ``printer`` for scalar expressions."""

    indent = "    "
    printer = None
    loop_open, loop_close = "for {v} in range({n}):", None
    local_form = "{name} = {init}"
    assign_form = "{target} {op} {code}"
    max_form = "max({}, {})"
    minus_infinity = "-math.inf"
    suffix = ""
    # what tensor loops also need (backends/tensor_loops.py): a guard, a choice, integer locals and division
    if_open, if_close = "if {cond}:", None
    ternary = "({a} if {cond} else {b})"
    and_ = " and "
    idiv = "//"
    int_local_form = "{name} = {init}"
    int_of = "int({})"  # a token id (stored as a float) as an index

    def int_local(self, name: str, init: str) -> str:
        return self.int_local_form.format(name=name, init=init)

    def loop(self, var: str, n: int) -> tuple[str, str | None]:
        """The opening line of a loop over ``range(n)`` and its closing line (``None`` for none)."""
        return self.loop_open.format(v=var, n=n), self.loop_close

    def local(self, name: str, init: str) -> str:
        return self.local_form.format(name=name, init=init)

    def assign(self, target: str, code: str, op: str = "=") -> str:
        return self.assign_form.format(target=target, op=op, code=code)

    def maximum(self, u: str, v: str) -> str:
        return self.max_form.format(u, v)

    def number(self, v: float) -> str:
        return self.minus_infinity if v == float("-inf") else repr(float(v)) + self.suffix

    def scalar(self, expr: sp.Expr) -> str:
        return self.printer.doprint(expr)


class LoopWriter:
    """Writes the loops of steps, reading each key's entries through ``access(key, i, j)``."""

    def __init__(self, syntax: Syntax, access, shapes: dict):
        self.syntax, self.access, self.shapes = syntax, access, shapes
        self._fresh = itertools.count()

    def _entry(self, key, i: str, j: str) -> str:
        r, c = self.shapes[key]
        return self.access(key, i if r > 1 else "0", j if c > 1 else "0")

    def entry(self, x: mx.M, i: str, j: str, pre: list[str], depth: int) -> str:
        """Code for entry (i, j) of ``x``; lines it needs first (reduction loops) go to ``pre``."""
        s = self.syntax
        r, c = x.shape
        i, j = (i if r > 1 else "0"), (j if c > 1 else "0")
        if x.op == "ref":
            return self._entry(x.key, i, j)
        if x.op == "ones":
            return s.number(1.0)
        if x.op == "const":
            return s.number(x.value)
        if x.op == "T":
            return self.entry(x.args[0], j, i, pre, depth)
        if x.op in ("had", "add", "sub"):
            join = {"had": " * ", "add": " + ", "sub": " - "}[x.op]
            return "(" + join.join(self.entry(a, i, j, pre, depth) for a in x.args) + ")"
        if x.op == "fn":
            args = [self.entry(a, i, j, pre, depth) for a in x.args]
            syms = {v: sp.Symbol(f"({code})" if not code.replace("_", "").isalnum() and "[" not in code
                                 else code, real=True) for v, code in zip(x.fn.vars, args)}
            return "(" + s.scalar(x.fn.expr.xreplace(syms)) + ")"
        if x.op == "bmean":  # pragma: no cover - refused before: per-sample code has no batch
            raise ValueError("a batch mean in per-sample code")
        if x.op in ("colsum", "colmax") and x.args[0].shape[0] == 1:
            return self.entry(x.args[0], "0", j, pre, depth)
        n = next(self._fresh)
        acc, k = f"acc{n}", f"k{n}"
        inner: list[str] = []
        if x.op == "dot":
            a, b = x.args
            if a.shape[1] == 1:
                return f"({self.entry(a, i, '0', pre, depth)} * {self.entry(b, '0', j, pre, depth)})"
            term = f"{self.entry(a, i, k, inner, depth + 1)} * {self.entry(b, k, j, inner, depth + 1)}"
            pre.append(s.local(acc, s.number(0.0)))
            update, op, bound = term, "+=", a.shape[1]
        else:  # colsum, colmax over the rows of one column
            (a,) = x.args
            term = self.entry(a, k, j, inner, depth + 1)
            pre.append(s.local(acc, s.number(0.0) if x.op == "colsum" else s.number(float("-inf"))))
            update, op, bound = ((term, "+=") if x.op == "colsum" else (s.maximum(acc, term), "=")) + (a.shape[0],)
        head, tail = s.loop(k, bound)
        pre.append(head)
        pre += [s.indent + line for line in inner + [s.assign(acc, update, op)]]
        if tail:
            pre.append(tail)
        return acc

    def step(self, target, expr: mx.M, shape, op: str = "=", into=None, factor: str = "") -> list[str]:
        """The loop nest that sets every entry of ``target`` (a key) from ``expr``.

        ``into(i, j)`` names another array to write (``g_W1[i, j]``); ``factor`` multiplies (``lr * ``).
        """
        r, c = shape
        s = self.syntax
        loops = [(v, n) for v, n in (("i", r), ("j", c)) if n > 1]
        body: list[str] = []
        code = self.entry(expr, "i", "j", body, 0)
        i, j = ("i" if r > 1 else "0"), ("j" if c > 1 else "0")
        lhs = into(i, j) if into else self._entry(target, "i", "j")
        body.append(s.assign(lhs, factor + code, op))
        lines, closing = [], []
        for depth, (v, n) in enumerate(loops):
            head, tail = s.loop(v, n)
            lines.append(s.indent * depth + head)
            if tail:
                closing.insert(0, s.indent * depth + tail)
        return lines + [s.indent * len(loops) + line for line in body] + closing


def comment(step: Step) -> str:
    """The equation a step computes, for the comment above its loops."""
    rhs = step.rhs if step.rhs is not None else step.expr
    return f"{step.lhs} = {mx.to_text(rhs)}"


def flops(x: mx.M) -> int:
    """Arithmetic operations to compute every entry of ``x`` once (for headers and benchmarks)."""
    size = math.prod(x.shape)
    if x.op in ("ref", "ones", "const"):
        return 0
    inner = sum(flops(a) for a in x.args)
    if x.op == "dot":
        r, c = x.shape
        return inner + 2 * r * c * x.args[0].shape[1]
    if x.op in ("colsum", "colmax"):
        return inner + math.prod(x.args[0].shape)
    if x.op == "contract":
        ins = x.attr("subscripts").split("->")[0].split(",")
        sizes = {ch: n for letters, a in zip(ins, x.args) for ch, n in zip(letters, a.shape)}
        return inner + 2 * math.prod(sizes.values())
    if x.op == "fn":
        return inner + size * max(1, int(sp.count_ops(x.fn.expr)))
    return inner + size
