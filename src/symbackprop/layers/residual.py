"""A residual connection's fan-in: ``A = A_prev + R`` (two inputs; the sweep adds what reaches A_prev on each path)."""

from __future__ import annotations

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Step
from .base import Layer, Site


class Add(Layer):
    """``out = in_0 + in_1``: each input's local derivative is 1, and each receives the whole of dC_d(out)."""

    kind = "add"
    symbol = "A"
    name = "residual"

    def forward(self, site: Site) -> list[Step]:
        return [Step(site.out, mx.add(site.x(0), site.x(1)), site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        return [Step(naming.local(site.out, k), mx.ones(site.shape), site.shape, "local", scalar=sp.Integer(1),
                     kind="ones") for k, need in zip(site.ins, site.needs_grad) if need]

    def vjp(self, site: Site, g: mx.M):
        return [(k, g, None) for k in site.ins]
