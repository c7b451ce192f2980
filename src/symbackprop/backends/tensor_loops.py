"""Lowering tensor steps (images, windows, sequences) to loops, for the per-sample loop targets (C now).

A step of any shape becomes a loop nest over its entries (axes of size 1 get index 0); each op of the tensor
vocabulary reads its arguments' entries by index arithmetic: a contraction loops over its summed letters, a window
reads ``X[c, s·y+a−p, s·x+b−p]`` (0 outside the image), ``unwindow`` gathers the patches that covered an entry,
``wmax`` and ``wroute`` loop over a window, ``reshape`` converts a flat C-order offset, ``gather`` reads a table's
column at a token id and ``scatter`` adds up the positions whose token is the entry's column; a sequence's ops
(one sample's (features, T)) are index arithmetic too: a head's rows, the causal mask, a product per sample.
Targets differ only in their :class:`~symbackprop.backends.loops.Syntax`.
"""

from __future__ import annotations

import itertools
import math

import sympy as sp

from .. import matexpr as mx
from .loops import Syntax


def _index(names: list[str], shape) -> list[str]:
    return [n if size > 1 else "0" for n, size in zip(names, shape)]


class TensorWriter:
    """Writes the loops of steps of any shape, reading each key's entries through ``access(key, idx)``."""

    def __init__(self, syntax: Syntax, access):
        self.syntax, self.access = syntax, access
        self._fresh = itertools.count()

    def _var(self, stem: str) -> str:
        """A fresh name (``i_3``): never one of the step's own loop variables (``i0``, ``i1``, ...)."""
        return f"{stem}_{next(self._fresh)}"

    def _loop(self, pre: list[str], var: str, n: int, body: list[str]) -> None:
        head, tail = self.syntax.loop(var, n)
        pre.append(head)
        pre += [self.syntax.indent + line for line in body]
        if tail:
            pre.append(tail)

    def _guard(self, cond: str, body: list[str]) -> list[str]:
        s = self.syntax
        return [s.if_open.format(cond=cond), *(s.indent + line for line in body)] + ([s.if_close] if s.if_close else [])

    def entry(self, x: mx.M, idx: list[str], pre: list[str]) -> str:
        """Code for the entry ``idx`` (one index per axis of ``x``) of ``x``; lines it needs first go to ``pre``."""
        s = self.syntax
        idx = _index(idx, x.shape)
        if x.op == "ref":
            return self.access(x.key, idx)
        if x.op == "const":
            return s.number(x.value)
        if x.op == "ones":
            return s.number(1.0)
        if x.op in ("had", "add", "sub"):
            join = {"had": " * ", "add": " + ", "sub": " - "}[x.op]
            return "(" + join.join(self._broadcast(a, x, idx, pre) for a in x.args) + ")"
        if x.op == "fn":
            args = [self._broadcast(a, x, idx, pre) for a in x.args]
            syms = {v: sp.Symbol(f"({code})", real=True) for v, code in zip(x.fn.vars, args)}
            return "(" + s.scalar(x.fn.expr.xreplace(syms)) + ")"
        return getattr(self, f"_{x.op}")(x, idx, pre)

    def _broadcast(self, a: mx.M, x: mx.M, idx: list[str], pre: list[str]) -> str:
        if a.shape == x.shape:
            return self.entry(a, idx, pre)
        if math.prod(a.shape) == 1:
            return self.entry(a, ["0"] * len(a.shape), pre)
        raise ValueError(f"no loop code for broadcasting {a.shape} to {x.shape}")  # pragma: no cover

    def _chan(self, x: mx.M, idx, pre) -> str:
        return self.entry(x.args[0], [idx[0]], pre)

    def _expand(self, x: mx.M, idx, pre) -> str:
        axes = x.attr("axes")
        return self.entry(x.args[0], [i for k, i in enumerate(idx) if k not in axes], pre)

    def _reshape(self, x: mx.M, idx, pre) -> str:
        (a,) = x.args
        strides = [math.prod(x.shape[k + 1:]) for k in range(len(x.shape))]
        flat = " + ".join(f"{i} * {st}" if st > 1 else i for i, st, n in zip(idx, strides, x.shape) if n > 1) or "0"
        inner = [f"(({flat}) {self.syntax.idiv} {math.prod(a.shape[k + 1:])}) % {n}" if n > 1 else "0"
                 for k, n in enumerate(a.shape)]
        return self.entry(a, inner, pre)

    def _window(self, x: mx.M, idx, pre) -> str:
        c, a, b, y, xx, n = idx
        (src,) = x.args
        _, h, w, _ = src.shape
        stride, pad = x.attr("stride"), x.attr("pad")
        row, col = f"({stride} * {y} + {a} - {pad})", f"({stride} * {xx} + {b} - {pad})"
        value = self.entry(src, [c, row, col, n], pre)
        if not pad:
            return value
        inside = self.syntax.and_.join([f"{row} >= 0", f"{row} < {h}", f"{col} >= 0", f"{col} < {w}"])
        return self.syntax.ternary.format(cond=inside, a=value, b=self.syntax.number(0.0))

    def _unwindow(self, x: mx.M, idx, pre) -> str:
        """``dX[c,h,w] = Σ_{a,b} cols[c, a, b, (h+p−a)/s, (w+p−b)/s]`` over the windows that covered (h, w)."""
        s = self.syntax
        (cols,) = x.args
        c, h, w, n = idx
        _, kh, kw, oh, ow, _ = cols.shape
        stride, pad = x.attr("stride"), x.attr("pad")
        acc, a, b, r, q = (self._var(v) for v in ("acc", "a", "b", "r", "q"))
        inner: list[str] = []
        term = self.entry(cols, [c, a, b, f"{r} {s.idiv} {stride}", f"{q} {s.idiv} {stride}", n], inner)
        cond = s.and_.join([f"{r} >= 0", f"{r} % {stride} == 0", f"{r} {s.idiv} {stride} < {oh}",
                            f"{q} >= 0", f"{q} % {stride} == 0", f"{q} {s.idiv} {stride} < {ow}"])
        body = [s.int_local(r, f"{h} + {pad} - {a}"), s.int_local(q, f"{w} + {pad} - {b}"),
                *self._guard(cond, inner + [s.assign(acc, term, "+=")])]
        pre.append(s.local(acc, s.number(0.0)))
        loop_b: list[str] = []
        self._loop(loop_b, b, kw, body)
        self._loop(pre, a, kh, loop_b)
        return acc

    def _first_max(self, w: mx.M, c: str, y: str, x: str, n: str, pre: list[str], arg: bool) -> tuple[str, str]:
        """``(best, arg)``: each window's maximum and (with ``arg``) the offset a·kw + b of its first maximum."""
        s = self.syntax
        _, kh, kw, _, _, _ = w.shape
        best, where, a, b, v = (self._var(t) for t in ("best", "arg", "a", "b", "v"))
        inner: list[str] = []
        value = self.entry(w, [c, a, b, y, x, n], inner)
        update = [s.assign(best, v)] + ([s.assign(where, f"{a} * {kw} + {b}")] if arg else [])
        body = inner + [s.local(v, value), *self._guard(f"{v} > {best}", update)]  # > keeps the first maximum
        pre += [s.local(best, s.minus_infinity)] + ([s.int_local(where, "0")] if arg else [])
        loop_b: list[str] = []
        self._loop(loop_b, b, kw, body)
        self._loop(pre, a, kh, loop_b)
        return best, where

    def _wmax(self, x: mx.M, idx, pre) -> str:
        c, y, xx, n = idx
        return self._first_max(x.args[0], c, y, xx, n, pre, arg=False)[0]

    def _wroute(self, x: mx.M, idx, pre) -> str:
        w, g = x.args
        c, a, b, y, xx, n = idx
        _, arg = self._first_max(w, c, y, xx, n, pre, arg=True)
        kw = w.shape[2]
        return self.syntax.ternary.format(cond=f"{arg} == {a} * {kw} + {b}", a=self.entry(g, [c, y, xx, n], pre),
                                          b=self.syntax.number(0.0))

    def _gather(self, x: mx.M, idx, pre) -> str:
        """``Z[j, t] = E[j, X[t]]``: the table's column at the position's token id (a context window's ids are a
        column (T, 1), a sequence's a row (1, T))."""
        table, ids = x.args
        k = self._var("k")
        at = [idx[1], idx[2]] if len(idx) == 3 else ["0", idx[1]]
        pre.append(self.syntax.int_local(k, self.syntax.int_of.format(self.entry(ids, at, pre))))
        return self.entry(table, [idx[0], k], pre)

    def _scatter(self, x: mx.M, idx, pre) -> str:
        """``dE[j, v] = Σ_t g[j, t]·[X[t] = v]``: the positions whose token is v, added (one sample)."""
        s = self.syntax
        g, ids = x.args
        j, v = idx
        T = g.shape[1]
        acc, t = self._var("acc"), self._var("t")
        inner: list[str] = []
        window = len(g.shape) == 3  # a context window's (D, T, 1), ids (T, 1); a sequence's (D, T), ids (1, T)
        token = self.entry(ids, [t, "0"] if window else ["0", t], inner)
        term = self.entry(g, [j, t, "0"] if window else [j, t], inner)
        body = inner + self._guard(f"{s.int_of.format(token)} == {v}", [s.assign(acc, term, "+=")])
        pre.append(s.local(acc, s.number(0.0)))
        self._loop(pre, t, T, body)
        return acc

    # -- a sequence's ops, per sample: values (features, T), one column a position
    def _positions(self, x: mx.M, idx, pre) -> str:
        return idx[1]  # each column's position, the positional table's id

    def _rows(self, x: mx.M, idx, pre) -> str:
        return self.entry(x.args[0], [f"{idx[0]} + {x.attr('start')}", idx[1]], pre)

    def _unrows(self, x: mx.M, idx, pre) -> str:
        start, n = x.attr("start"), x.args[0].shape[0]
        inner: list[str] = []
        value = self.entry(x.args[0], [f"{idx[0]} - {start}", idx[1]], inner)
        if inner:  # pragma: no cover - an unrows reads a named value
            raise ValueError("unrows of a value that needs loops")
        cond = self.syntax.and_.join([f"{idx[0]} >= {start}", f"{idx[0]} < {start + n}"])
        return self.syntax.ternary.format(cond=cond, a=value, b=self.syntax.number(0.0))

    def _stack(self, x: mx.M, idx, pre) -> str:
        """Row i of the joined heads: the head whose rows hold it (a choice, innermost last)."""
        parts, start = [], 0
        for a in x.args:
            parts.append((start, a))
            start += a.shape[0]
        start, a = parts[-1]
        code = self.entry(a, [f"{idx[0]} - {start}", idx[1]], pre)
        for start, a in reversed(parts[:-1]):
            value = self.entry(a, [f"{idx[0]} - {start}", idx[1]], pre)
            code = self.syntax.ternary.format(cond=f"{idx[0]} < {start + a.shape[0]}", a=value, b=code)
        return code

    def _sdot(self, x: mx.M, idx, pre) -> str:
        """One sample's product (aᵀ if ta else a)·(bᵀ if tb else b): a loop over the shared axis."""
        s = self.syntax
        a, b = x.args
        ta, tb = x.attr("ta"), x.attr("tb")
        n = a.shape[0] if ta else a.shape[1]
        acc, k = self._var("acc"), self._var("k")
        inner: list[str] = []
        left = self.entry(a, [k, idx[0]] if ta else [idx[0], k], inner)
        right = self.entry(b, [idx[1], k] if tb else [k, idx[1]], inner)
        pre.append(s.local(acc, s.number(0.0)))
        self._loop(pre, k, n, inner + [s.assign(acc, f"{left} * {right}", "+=")])
        return acc

    def _causal(self, x: mx.M, idx, pre) -> str:
        """Key s after query t: ``fill`` (−∞ before the softmax, 0 for its gradient)."""
        value = self.entry(x.args[0], idx, pre)
        fill = self.syntax.number(float("-inf") if x.attr("fill") < 0 else 0.0)  # a negative fill stands for −∞
        return self.syntax.ternary.format(cond=f"{idx[0]} <= {idx[1]}", a=value, b=fill)

    def _lag(self, x: mx.M, idx, pre) -> str:
        """Position t − 1's column (h_{t−1}), 0 at position 0."""
        value = self.entry(x.args[0], [idx[0], f"{idx[1]} - 1"], pre)
        return self.syntax.ternary.format(cond=f"{idx[1]} > 0", a=value, b=self.syntax.number(0.0))

    def _T(self, x: mx.M, idx, pre) -> str:
        return self.entry(x.args[0], [idx[1], idx[0]], pre)

    def _dot(self, x: mx.M, idx, pre) -> str:
        s = self.syntax
        a, b = x.args
        acc, k = self._var("acc"), self._var("k")
        inner: list[str] = []
        term = f"{self.entry(a, [idx[0], k], inner)} * {self.entry(b, [k, idx[1]], inner)}"
        pre.append(s.local(acc, s.number(0.0)))
        self._loop(pre, k, a.shape[1], inner + [s.assign(acc, term, "+=")])
        return acc

    def _contract(self, x: mx.M, idx, pre) -> str:
        s = self.syntax
        ins, out = x.attr("subscripts").split("->")
        letters = ins.split(",")
        sizes = {ch: size for lt, a in zip(letters, x.args) for ch, size in zip(lt, a.shape)}
        where = dict(zip(out, idx))
        summed = [ch for ch in dict.fromkeys("".join(letters)) if ch not in out]
        loop_vars = {ch: self._var(ch) for ch in summed if sizes[ch] > 1}
        where.update({ch: loop_vars.get(ch, "0") for ch in summed})
        if not loop_vars:
            terms = (self.entry(a, [where[ch] for ch in lt], pre) for lt, a in zip(letters, x.args))
            return "(" + " * ".join(terms) + ")"
        acc = self._var("acc")
        inner: list[str] = []
        term = " * ".join(self.entry(a, [where[ch] for ch in lt], inner) for lt, a in zip(letters, x.args))
        body = inner + [s.assign(acc, term, "+=")]
        for ch in reversed(list(loop_vars)):
            nest: list[str] = []
            self._loop(nest, loop_vars[ch], sizes[ch], body)
            body = nest
        pre.append(s.local(acc, s.number(0.0)))
        pre += body
        return acc

    def step(self, target, expr: mx.M, shape, op: str = "=") -> list[str]:
        """The loop nest that sets every entry of ``target`` (a key) from ``expr``."""
        s = self.syntax
        names = [f"i{k}" for k in range(len(shape))]
        loops = [(v, n) for v, n in zip(names, shape) if n > 1]
        body: list[str] = []
        code = self.entry(expr, names, body)
        body.append(s.assign(self.access(target, _index(names, shape)), code, op))
        for v, n in reversed(loops):
            nest: list[str] = []
            self._loop(nest, v, n, body)
            body = nest
        return body
