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

    def __init__(self, units: int, init: str = "glorot", bias: bool = True):
        self.units, self.init, self.bias = units, init, bias
        self.name = f"dense({units})" if bias else f"dense({units}, no bias)"

    def width(self, n_in: int) -> int:
        return self.units

    def params(self, layer: int, n_in: int) -> tuple[Param, ...]:
        weight = Param(naming.weight(layer), (self.units, n_in), self.init, matrix=True, penalised=True)
        return (weight, Param(naming.bias(layer), (self.units, 1), "zeros")) if self.bias else (weight,)

    def forward(self, site: Site) -> list[Step]:
        z = mx.dot(site.p("W"), site.x())
        return [Step(site.out, mx.add(z, site.p("B")) if self.bias else z, site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        """Each local derivative, by SymPy, of the layer written in whole-layer symbols (as the reference)."""
        W = site.param("W")
        Ws, As = naming.symbol(W.key), naming.symbol(site.ins[0])
        Z = Ws * As
        if self.bias:
            B = site.param("B")
            Bs = naming.symbol(B.key)
            Z = Z + Bs
        n, n_in = W.shape
        out = []
        if site.needs_grad[0]:
            out.append(Step(naming.local(site.out, site.ins[0]), site.p("W"), (n, n_in), "local",
                            scalar=sp.diff(Z, As), kind="weights"))
        out.append(Step(naming.local(site.out, W.key), site.x(), (n_in, 1), "local", scalar=sp.diff(Z, Ws),
                        kind="inputs"))
        if self.bias:
            out.append(Step(naming.local(site.out, B.key), mx.ones((n, 1)), (n, 1), "local", scalar=sp.diff(Z, Bs),
                            kind="ones"))
        return out

    def vjp(self, site: Site, g: mx.M):
        return [(site.param("W").key, mx.dot(g, mx.T(site.x())), None),
                *([(site.param("B").key, g, None)] if self.bias else []),
                (site.ins[0], mx.dot(mx.T(site.p("W")), g), None)]
