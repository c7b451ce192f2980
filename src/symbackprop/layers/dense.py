"""The fully connected layer ``Z = W·A + B``."""

from __future__ import annotations

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Param, Step
from .base import Layer, Site


class Linear(Layer):
    """``Z = W·A_prev + B`` (``Z = W·A_prev`` without a bias): weights (units × inputs), initialised for the
    activation that follows."""

    kind = "dense"
    symbol = "Z"

    def __init__(self, units: int | None, init: str = "glorot", bias: bool = True, tag: str = ""):
        self.units, self.init, self.bias, self.tag = units, init, bias, tag
        self.name = (f"dense({units or 'as its input'})" if bias else f"dense({units}, no bias)") + \
            (f" {tag}" if tag else "")

    def width(self, n_in: int) -> int:
        """``units``, or (``None``) as many as its input has: an attention layer's projections."""
        return self.units or n_in

    def params(self, layer: int, n_in: int) -> tuple[Param, ...]:
        """``W{l}`` and ``B{l}``; a ``tag`` names them ``Wq{l}``, ``Bq{l}``, ... (an attention layer's)."""
        units = self.width(n_in)
        weight = Param(naming.Key("W" + self.tag, layer), (units, n_in), self.init, matrix=True, penalised=True)
        return (weight, Param(naming.Key("B" + self.tag, layer), (units, 1), "zeros")) if self.bias else (weight,)

    def forward(self, site: Site) -> list[Step]:
        z = mx.dot(site.p("W" + self.tag), site.x())
        return [Step(site.out, mx.add(z, site.p("B" + self.tag)) if self.bias else z, site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        """Each local derivative, by SymPy, of the layer written in whole-layer symbols (as the reference)."""
        W = site.param("W" + self.tag)
        Ws, As = naming.symbol(W.key), naming.symbol(site.ins[0])
        Z = Ws * As
        if self.bias:
            B = site.param("B" + self.tag)
            Bs = naming.symbol(B.key)
            Z = Z + Bs
        n, n_in = W.shape
        out = []
        if site.needs_grad[0]:
            out.append(Step(naming.local(site.out, site.ins[0]), site.p("W" + self.tag), (n, n_in), "local",
                            scalar=sp.diff(Z, As), kind="weights"))
        out.append(Step(naming.local(site.out, W.key), site.x(), (n_in, 1), "local", scalar=sp.diff(Z, Ws),
                        kind="inputs"))
        if self.bias:
            out.append(Step(naming.local(site.out, B.key), mx.ones((n, 1)), (n, 1), "local", scalar=sp.diff(Z, Bs),
                            kind="ones"))
        return out

    def vjp(self, site: Site, g: mx.M):
        return [(site.param("W" + self.tag).key, mx.dot(g, mx.T(site.x())), None),
                *([(site.param("B" + self.tag).key, g, None)] if self.bias else []),
                (site.ins[0], mx.dot(mx.T(site.p("W" + self.tag)), g), None)]
