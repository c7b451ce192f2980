"""The 2-D convolution ``Z = W ⋆ X + B`` (a correlation, as ``torch.nn.functional.conv2d``) and its proven VJP.

Per entry: ``Z[o, y, x] = Σ_{i,a,b} W[o, i, a, b] · X[i, s·y + a − p, s·x + b − p] + B[o]`` (X is 0 outside the
image), so ``dC/dW[o,i,a,b] = Σ_{n,y,x} dC/dZ[o,y,x] · X[i, s·y+a−p, s·x+b−p]`` and ``dC/dB[o] = Σ_{n,y,x}
dC/dZ[o,y,x]``; the input gradient is the full correlation of dC/dZ (spread out by the stride) with the kernel
flipped — the transposed convolution.  In the Program: ``window`` (the patches), ``contract`` and ``unwindow``
(each patch's gradient added back).  :func:`vjp_holds` proves the closed forms against SymPy's own derivative of
the per-entry definition, at small symbolic sizes with the layer's own kernel, stride and padding.
"""

from __future__ import annotations

import itertools
from functools import cache

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Param, Step
from .base import Layer, Site

i_, o_, a_, b_, y_, x_, u_, v_ = sp.symbols("i o a b y x u v", integer=True)


def _entry(base: str, *index) -> sp.Expr:
    return sp.IndexedBase(base)[index]


def correlate(W, X, stride: int, pad: int):
    """``{(o, y, x): Z}`` per entry, from ``W[o][i][a][b]`` and ``X[i][h][w]`` (lists of SymPy values)."""
    O, I, K, L = len(W), len(W[0]), len(W[0][0]), len(W[0][0][0])
    H, Wd = len(X[0]), len(X[0][0])
    out = {}
    for o, y, x in itertools.product(range(O), range(mx.out_size(H, K, stride, pad)),
                                     range(mx.out_size(Wd, L, stride, pad))):
        out[o, y, x] = sum(W[o][i][a][b] * X[i][stride * y + a - pad][stride * x + b - pad]
                           for i in range(I) for a in range(K) for b in range(L)
                           if 0 <= stride * y + a - pad < H and 0 <= stride * x + b - pad < Wd)
    return out


@cache
def vjp_holds(k: tuple[int, int], stride: int, pad: int, size: int = 5, channels: int = 2) -> bool:
    """SymPy: for ``channels`` in and out on a ``size``×``size`` image, the derivative of ``Σ G·Z`` (Z the per-entry
    correlation) by every W, B and X entry equals the closed forms: ``dW = Σ G·X`` shifted, ``dB = Σ G``, and dX the
    full correlation of G, spread by the stride, with the flipped kernel."""
    K, L = k
    X = [[[sp.Symbol(f"x{i}_{h}_{w}") for w in range(size)] for h in range(size)] for i in range(channels)]
    W = [[[[sp.Symbol(f"w{o}_{i}_{a}_{b}") for b in range(L)] for a in range(K)] for i in range(channels)]
         for o in range(channels)]
    B = [sp.Symbol(f"b{o}") for o in range(channels)]
    Z = correlate(W, X, stride, pad)
    G = {key: sp.Symbol("g{}_{}_{}".format(*key)) for key in Z}
    C = sum(G[key] * (z + B[key[0]]) for key, z in Z.items())
    rows = {(y, x) for _, y, x in Z}
    for o, i, a, b in itertools.product(range(channels), range(channels), range(K), range(L)):
        form = sum(G[o, y, x] * X[i][stride * y + a - pad][stride * x + b - pad] for y, x in rows
                   if 0 <= stride * y + a - pad < size and 0 <= stride * x + b - pad < size)
        if sp.expand(sp.diff(C, W[o][i][a][b]) - form) != 0:
            return False
    if any(sp.expand(sp.diff(C, B[o]) - sum(g for key, g in G.items() if key[0] == o)) != 0 for o in range(channels)):
        return False
    spread = {(o, stride * y, stride * x): g for (o, y, x), g in G.items()}  # G with s − 1 zeros between entries
    for i, h, w in itertools.product(range(channels), range(size), range(size)):
        full = sum(W[o][i][a][b] * spread.get((o, h + pad - a, w + pad - b), 0)
                   for o in range(channels) for a in range(K) for b in range(L))
        if sp.expand(sp.diff(C, X[i][h][w]) - full) != 0:
            return False
    return True


class Convolution(Layer):
    """``Z = W ⋆ X + B``: weights (out, in, kh, kw) as ``Conv2d.weight``, one bias per output channel (or none)."""

    kind = "conv"
    symbol = "Z"

    def __init__(self, out_channels: int, k: tuple[int, int], stride: int, pad: int, bias: bool, init: str):
        self.out_channels, self.k, self.stride, self.pad, self.bias, self.init = \
            out_channels, tuple(k), stride, pad, bias, init
        self.name = f"conv({out_channels}, {k[0]}×{k[1]})"

    def out_shape(self, in_shapes) -> tuple[int, ...]:
        _, h, w, n = in_shapes[0]
        return (self.out_channels, mx.out_size(h, self.k[0], self.stride, self.pad),
                mx.out_size(w, self.k[1], self.stride, self.pad), n)

    def params(self, layer: int, n_in: int) -> tuple[Param, ...]:
        weight = Param(naming.weight(layer), (self.out_channels, n_in, *self.k), self.init, matrix=True,
                       penalised=True)
        return (weight, Param(naming.bias(layer), (self.out_channels,), "zeros")) if self.bias else (weight,)

    def _windows(self, site: Site) -> mx.M:
        """``patches{l}``: the input's windows, a forward value that the weight gradient reads again."""
        win = mx.window(site.x(), self.k, self.stride, self.pad)
        return mx.ref(naming.Key("patches", site.layer), win.shape)

    def forward(self, site: Site) -> list[Step]:
        ref = self._windows(site)
        z = mx.contract("oiab,iabyxn->oyxn", site.p("W"), ref)
        if self.bias:
            z = mx.add(z, mx.chan(site.p("B"), site.shape))
        return [Step(ref.key, mx.window(site.x(), self.k, self.stride, self.pad), ref.shape, "forward"),
                Step(site.out, z, site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        """The per-entry local derivatives in index notation (shown; the VJP computes with the closed forms)."""
        s, p = self.stride, self.pad
        X, W = str(site.ins[0]), str(site.param("W").key)
        out = []
        if site.needs_grad[0]:
            out.append(Step(naming.local(site.out, site.ins[0]), None, site.in_shapes[0], "local",
                            scalar=_entry(W, o_, i_, u_ - s * y_ + p, v_ - s * x_ + p), kind="conv-input"))
        out.append(Step(naming.local(site.out, site.param("W").key), None, site.param("W").shape, "local",
                        scalar=_entry(X, i_, s * y_ + a_ - p, s * x_ + b_ - p), kind="conv-weights"))
        if self.bias:
            out.append(Step(naming.local(site.out, site.param("B").key), None, site.param("B").shape, "local",
                            scalar=sp.Integer(1), kind="ones"))
        return out

    def vjp(self, site: Site, g: mx.M):
        out = [(site.param("W").key, mx.contract("oyxn,iabyxn->oiab", g, self._windows(site)), None)]
        if self.bias:
            out.append((site.param("B").key, mx.contract("oyxn->o", g), None))
        cols = mx.contract("oiab,oyxn->iabyxn", site.p("W"), g)
        out.append((site.ins[0], mx.unwindow(cols, site.in_shapes[0], self.k, self.stride, self.pad), None))
        return out

    def closed_form(self, site: Site) -> tuple[str, str]:
        """The per-entry rule and the closed forms people know, and what proved them."""
        s, p = self.stride, self.pad
        W, X, Z = site.param("W").key, site.ins[0], site.out
        dz, dx = naming.grad(Z), naming.grad(X)
        _, h, w, _ = site.in_shapes[0]
        _, oh, ow, _ = site.shape
        dropped = []
        for axis, n, on, kk in (("rows", h, oh, self.k[0]), ("columns", w, ow, self.k[1])):
            left = n + 2 * p - kk - s * (on - 1)
            if left:
                dropped.append(f"the last {left} padded {axis} are never read (⌊({n} + 2·{p} − {kk})/{s}⌋ + 1 = {on})")
        text = (f"{Z}[o,y,x] = Σ_i,a,b {W}[o,i,a,b]·{X}[i, {s}·y+a−{p}, {s}·x+b−{p}]"
                + (f" + B{site.layer}[o]" if self.bias else "") + f";  d{Z}/d{W}[o,i,a,b] = {X}[i, {s}·y+a−{p}, "
                f"{s}·x+b−{p}], so dC_d{W}[o,i,a,b] = Σ_n,y,x {dz}[o,y,x]·{X}[i, {s}·y+a−{p}, {s}·x+b−{p}]"
                + (f", dC_dB{site.layer}[o] = Σ_n,y,x {dz}[o,y,x]" if self.bias else "")
                + (f";  {dx} = the full correlation of {dz} (spread by the stride {s}) with {W} flipped: a "
                   "transposed convolution" if site.needs_grad[0] else "")
                + ("; " + "; ".join(dropped) if dropped else ""))
        size = max(self.k) + 2
        ok = vjp_holds(self.k, s, p, size)
        proof = (f"proven by SymPy: its derivative of Σ G·{Z}, written entry by entry, equals these forms for every "
                 f"entry (2 channels in and out, {size}×{size} input, kernel {self.k[0]}×{self.k[1]}, stride {s}, "
                 f"padding {p})" if ok else "NOT proven: SymPy's derivative differs (a bug: please report it)")
        return text, proof
