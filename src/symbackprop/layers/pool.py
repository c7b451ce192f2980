"""Pooling and flattening of images: max and average over windows, the global average, and ``flatten``.

Max pooling routes each gradient to its window's first maximum (as PyTorch does with ties), average pooling
spreads it evenly over the window, the global average over every position, and ``flatten`` only re-indexes (C
order, as ``torch.flatten``).  Each states its forward and VJP in the tensor vocabulary; the pools' closed forms
are proven by SymPy (:func:`pool_vjp_holds`).
"""

from __future__ import annotations

import itertools
import math
import random
from functools import cache

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Step
from .base import Layer, Site


@cache
def pool_vjp_holds(kind: str, k: int, stride: int, size: int = 5) -> bool:
    """SymPy: the derivative of ``Σ G·P`` (P the pool, per entry, of a ``size``×``size`` image) equals the closed
    form: for ``avg`` G/k² spread over each window (exactly), for ``max`` G at each window's first maximum (at three
    random points of distinct values, where the maximum is differentiable)."""
    X = [[sp.Symbol(f"x{h}_{w}") for w in range(size)] for h in range(size)]
    n = mx.out_size(size, k, stride, 0)
    G = {(y, x): sp.Symbol(f"g{y}_{x}") for y in range(n) for x in range(n)}
    windows = {(y, x): [(stride * y + a, stride * x + b) for a in range(k) for b in range(k)] for y, x in G}
    if kind == "avg":
        C = sum(g * sum(X[h][w] for h, w in windows[yx]) / k**2 for yx, g in G.items())
        return all(sp.expand(sp.diff(C, X[h][w]) - sum(g / k**2 for yx, g in G.items() if (h, w) in windows[yx]))
                   == 0 for h in range(size) for w in range(size))
    C = sum(g * sp.Max(*(X[h][w] for h, w in windows[yx])) for yx, g in G.items())
    rng = random.Random(0)
    for _ in range(3):
        point = {s: sp.Integer(v) for s, v in zip(itertools.chain(*X), rng.sample(range(-50, 50), size * size))}
        first = {yx: max(cells, key=lambda c: (point[X[c[0]][c[1]]], -cells.index(c))) for yx, cells in windows.items()}
        for h, w in itertools.product(range(size), range(size)):
            routed = sum(g for yx, g in G.items() if first[yx] == (h, w))
            if sp.expand(sp.diff(C, X[h][w]).subs(point) - routed) != 0:
                return False
    return True


class Pool(Layer):
    """Max or average pooling over ``k``×``k`` windows, every ``stride`` positions, no padding (as
    ``max_pool2d``/``avg_pool2d`` with their defaults)."""

    symbol = "P"

    def __init__(self, kind: str, k: int, stride: int):
        self.kind, self.k, self.stride = kind, k, stride
        self.name = f"{kind}pool({k}×{k}, stride {stride})"

    def out_shape(self, in_shapes) -> tuple[int, ...]:
        c, h, w, n = in_shapes[0]
        return (c, mx.out_size(h, self.k, self.stride, 0), mx.out_size(w, self.k, self.stride, 0), n)

    def _windows(self, site: Site) -> mx.M:
        """``windows{l}``: the input's windows, a forward value that max pooling's VJP reads again."""
        win = mx.window(site.x(), (self.k, self.k), self.stride, 0)
        return mx.ref(naming.Key("windows", site.layer), win.shape)

    def forward(self, site: Site) -> list[Step]:
        win = mx.window(site.x(), (self.k, self.k), self.stride, 0)
        ref = self._windows(site)
        out = mx.wmax(ref) if self.kind == "max" else \
            mx.had(mx.const(1 / self.k**2), mx.contract("cabyxn->cyxn", ref))
        return [Step(ref.key, win, win.shape, "forward"), Step(site.out, out, site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        s = self.stride
        if self.kind == "max":
            a, b, a1, b1 = sp.symbols("a b a_max b_max", integer=True)
            scalar = sp.KroneckerDelta(a, a1) * sp.KroneckerDelta(b, b1)  # (a_max, b_max): the window's first maximum
        else:
            scalar = sp.Rational(1, self.k**2)
        return [Step(naming.local(site.out, site.ins[0]), None, site.in_shapes[0], "local", scalar=scalar,
                     kind=f"{self.kind}-pool, stride {s}")]

    def vjp(self, site: Site, g: mx.M):
        win = self._windows(site)
        if self.kind == "max":
            cols = mx.wroute(win, g)
        else:
            cols = mx.had(mx.const(1 / self.k**2), mx.expand(g, win.shape, (1, 2)))
        return [(site.ins[0], mx.unwindow(cols, site.in_shapes[0], (self.k, self.k), self.stride, 0), None)]

    def closed_form(self, site: Site) -> tuple[str, str]:
        P, A, k, s = site.out, site.ins[0], self.k, self.stride
        if self.kind == "max":
            text = (f"{P}[c,y,x] = max_a,b {A}[c, {s}·y+a, {s}·x+b];  dC_d{A} gets dC_d{P}[c,y,x] at each window's "
                    "first maximum (argmax, as PyTorch with ties) and 0 elsewhere, summed where windows overlap")
        else:
            text = (f"{P}[c,y,x] = Σ_a,b {A}[c, {s}·y+a, {s}·x+b] / {k * k};  dC_d{A} gets dC_d{P}[c,y,x]/{k * k} at "
                    "every entry of its window (spread evenly), summed where windows overlap")
        _, h, _, _ = site.in_shapes[0]
        _, oh, _, _ = site.shape
        left = h - k - s * (oh - 1)
        if left:
            text += f"; the last {left} rows and columns are never read (⌊({h} − {k})/{s}⌋ + 1 = {oh})"
        size = k + s + 1
        ok = pool_vjp_holds(self.kind, k, s, size)
        how = "exactly" if self.kind == "avg" else "at 3 random points of distinct values"
        proof = (f"proven by SymPy: its derivative of Σ G·{P}, entry by entry, equals this form {how} ({size}×{size} "
                 f"input, window {k}×{k}, stride {s})" if ok else "NOT proven: SymPy's derivative differs")
        return text, proof


class GlobalAvgPool(Layer):
    """The mean of each channel over every position: (C, H, W) -> (C, 1), a vector a dense layer can follow."""

    kind = "global-avg-pool"
    symbol = "G"
    name = "global average"

    def out_shape(self, in_shapes) -> tuple[int, ...]:
        return (in_shapes[0][0], in_shapes[0][-1])

    def forward(self, site: Site) -> list[Step]:
        _, h, w, _ = site.in_shapes[0]
        out = mx.had(mx.const(1 / (h * w)), mx.contract("chwn->cn", site.x()))
        return [Step(site.out, out, site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        _, h, w, _ = site.in_shapes[0]
        return [Step(naming.local(site.out, site.ins[0]), None, site.in_shapes[0], "local",
                     scalar=sp.Rational(1, h * w), kind="global average")]

    def vjp(self, site: Site, g: mx.M):
        _, h, w, _ = site.in_shapes[0]
        return [(site.ins[0], mx.had(mx.const(1 / (h * w)), mx.expand(g, site.in_shapes[0], (1, 2))), None)]


class Flatten(Layer):
    """(C, H, W) -> (C·H·W, 1) in C order, as ``torch.flatten``; a sequence (D, T) -> (T·D, 1) position after
    position, as ``emb.view(m, -1)`` of PyTorch's (m, T, D) embeddings.  Its VJP re-indexes back."""

    kind = "flatten"
    symbol = "F"
    name = "flatten"

    def out_shape(self, in_shapes) -> tuple[int, ...]:
        shape = in_shapes[0]
        return (math.prod(shape[:-1]), shape[-1])

    @staticmethod
    def _sequence(site: Site) -> bool:
        return len(site.in_shapes[0]) == 3

    def forward(self, site: Site) -> list[Step]:
        x = mx.contract("dtn->tdn", site.x()) if self._sequence(site) else site.x()
        return [Step(site.out, mx.reshape(x, site.shape), site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        u = sp.Symbol("u", integer=True)
        if self._sequence(site):
            d = site.in_shapes[0][0]
            at = sp.Symbol("t") * d + sp.Symbol("d")
        else:
            c, h, w, _ = site.in_shapes[0]
            at = sp.Symbol("c") * h * w + sp.Symbol("h") * w + sp.Symbol("w")
        return [Step(naming.local(site.out, site.ins[0]), None, site.in_shapes[0], "local",
                     scalar=sp.KroneckerDelta(u, at), kind="re-indexing")]

    def vjp(self, site: Site, g: mx.M):
        if self._sequence(site):
            d, t, n = site.in_shapes[0]
            return [(site.ins[0], mx.contract("tdn->dtn", mx.reshape(g, (t, d, n))), None)]
        return [(site.ins[0], mx.reshape(g, site.in_shapes[0]), None)]
