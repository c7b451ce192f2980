"""Softmax over a layer's units, ``A_i = exp(Z_i) / Σ_j exp(Z_j)``: shifted by the max, output layer only."""

from __future__ import annotations

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Step
from .base import Layer, Site

_z, _m, _e, _s = sp.symbols("z m e s", real=True)


def jacobian_form_holds(n: int = 3) -> bool:
    """SymPy's Jacobian of softmax on ``n`` entries equals ``A_i (δ_ij - A_j)``, the form the VJP uses."""
    zs = sp.symbols(f"z0:{n}", real=True)
    total = sum(sp.exp(v) for v in zs)
    out = [sp.exp(v) / total for v in zs]
    jac = sp.Matrix(n, n, lambda i, j: sp.diff(out[i], zs[j]))
    form = sp.Matrix(n, n, lambda i, j: out[i] * (int(i == j) - out[j]))
    return sp.simplify(jac - form) == sp.zeros(n, n)


class Softmax(Layer):
    """Softmax over the whole layer.  Not elementwise: its local derivative is the Jacobian
    ``dA_dZ = A_i (δ_ij − A_j)``, and its VJP ``A ⊙ (g − Σ(A ⊙ g))`` never forms it."""

    kind = "softmax"
    symbol = "A"
    traits = frozenset({"output-only"})
    name = "softmax"
    outputs = "distribution"
    dead_left = False
    aliases = ()
    description = "A_i = exp(Z_i) / sum_j exp(Z_j)"

    def __repr__(self) -> str:
        return "Activation('softmax')"

    @property
    def derivative(self):
        raise TypeError("softmax is not elementwise: its local derivative is a Jacobian")

    output_form = None

    def _temps(self, site: Site) -> tuple[naming.Key, naming.Key, naming.Key]:
        return naming.Key("M", site.layer), naming.Key("E", site.layer), naming.Key("S", site.layer)

    def forward(self, site: Site) -> list[Step]:
        M, E, S = self._temps(site)
        one, col = (1, site.shape[1]), site.shape
        m, s = mx.ref(M, one), mx.ref(S, one)
        e = mx.ref(E, col)
        return [Step(M, mx.colmax(site.x()), one, "forward"),
                Step(E, mx.fn(mx.ScalarFn("exp", sp.exp(_z - _m), (_z, _m)), site.x(), m), col, "forward"),
                Step(S, mx.colsum(e), one, "forward"),
                Step(site.out, mx.fn(mx.ScalarFn("divide", _e / _s, (_e, _s)), e, s), col, "forward")]

    def log_normaliser(self, site: Site) -> mx.M:
        """``log Σ exp(Z)`` from the forward pass's max and sum (for a stable cross-entropy)."""
        M, _, S = self._temps(site)
        one = (1, site.shape[1])  # a column's, or each position's of a sequence
        return mx.fn(mx.ScalarFn("logsumexp", _m + sp.log(_s), (_m, _s)), mx.ref(M, one), mx.ref(S, one))

    def local(self, site: Site) -> list[Step]:
        i, j = sp.symbols("i j", integer=True)
        Ai = naming.symbol(site.out, ("i",), f"{site.out}_i")
        Aj = naming.symbol(site.out, ("j",), f"{site.out}_j")
        n = site.shape[0]
        return [Step(naming.local(site.out, site.ins[0]), None, (n, n), "local",
                     scalar=Ai * (sp.KroneckerDelta(i, j) - Aj), kind="jacobian")]

    def vjp(self, site: Site, g: mx.M):
        n = site.shape[0]
        jac = mx.ref(naming.local(site.out, site.ins[0]), (n, n))
        y = site.y
        computed = mx.had(y, mx.sub(g, mx.colsum(mx.had(y, g))))
        return [(site.ins[0], mx.dot(mx.T(jac), g), computed)]
