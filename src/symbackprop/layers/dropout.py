"""Inverted dropout in training: ``D = H ⊙ M / (1 − P)`` with the mask M an input (0 or 1 per unit and sample).

The mask is drawn by the trainer from the seed and passed in like X (``params["M2"]``, (n, m)); predictions,
exports and reports use the network without dropout (:meth:`symbackprop.Network.eval`).
"""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Step
from .base import Layer, Site

_m = sp.Symbol("m", real=True)


class Dropout(Layer):
    """``out = in_0 ⊙ M / (1 − P)`` where ``in_1`` is the mask M; the mask gets no gradient."""

    kind = "dropout"
    symbol = "D"

    def __init__(self, p: float):
        self.p = p
        self.name = f"dropout={p:g}"
        self.keep = sp.Rational(Fraction(str(p)).limit_denominator(10**6)) if p else sp.Integer(0)

    def _scaled(self, site: Site) -> mx.M:
        """``M / (1 − P)``: the mask, scaled so that the layer's expected output is its input."""
        return mx.fn(mx.ScalarFn(f"M/(1 - {self.p:g})", _m / (1 - self.keep), (_m,)), site.x(1))

    def _shown(self, *factors: mx.M) -> mx.M:
        """``… ⊙ M ⊙ 1/(1 − P)`` as displayed: the mask times its scale (``H ⊙ M ⊙ 1.25`` for P = 0.2)."""
        out = factors[0]
        for f in (*factors[1:], mx.const(1 / (1 - self.p))):
            out = mx.had(out, f)
        return out

    def forward(self, site: Site) -> list[Step]:
        return [Step(site.out, mx.had(site.x(0), self._scaled(site)), site.shape, "forward",
                     shown=self._shown(site.x(0), site.x(1)))]

    def local(self, site: Site) -> list[Step]:
        """``dD_dH = M / (1 − P)``, by SymPy from the forward definition."""
        h, mask = naming.symbol(site.ins[0]), naming.symbol(site.ins[1])
        return [Step(naming.local(site.out, site.ins[0]), self._scaled(site), site.shape, "local",
                     shown=self._shown(site.x(1)), scalar=sp.diff(h * mask / (1 - self.keep), h),
                     kind="elementwise")]

    def vjp(self, site: Site, g: mx.M):
        local = mx.ref(naming.local(site.out, site.ins[0]), site.shape)
        return [(site.ins[0], mx.had(g, local), None)]
