"""The layer protocol: a layer owns its parameters, its forward definition and its backward rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import matexpr as mx
from ..naming import Key
from ..program import Param, Step


@dataclass(frozen=True)
class Site:
    """Where a layer sits in a network: its number ``layer``, output key, inputs and parameters."""

    layer: int
    out: Key
    ins: tuple[Key, ...]
    in_shapes: tuple[tuple[int, ...], ...]
    shape: tuple[int, ...]
    params: tuple[Param, ...] = ()
    needs_grad: tuple[bool, ...] = (True,)

    def x(self, i: int = 0) -> mx.M:
        """Input ``i`` as a matrix-expression reference."""
        return mx.ref(self.ins[i], self.in_shapes[i])

    @property
    def y(self) -> mx.M:
        return mx.ref(self.out, self.shape)

    def p(self, base: str) -> mx.M:
        """The parameter whose key has ``base`` (``"W"``) as a reference."""
        param = self.param(base)
        return mx.ref(param.key, param.shape)

    def param(self, base: str) -> Param:
        return next(q for q in self.params if q.key.base == base)


class Layer:
    """A layer kind: one small class.  Subclasses set ``kind``, ``symbol`` and the methods below.

    ``symbol`` is the base of the output's name (``Z`` for a dense layer, ``A`` for an activation);
    ``traits`` holds attributes others may ask about: "kink" (a non-differentiable point, taken at its
    left-hand value), "output-only", "he-init" (the layer before it is initialised for a ReLU).
    """

    kind: ClassVar[str] = "layer"
    symbol: ClassVar[str] = "H"
    traits: ClassVar[frozenset] = frozenset()
    name: str = "layer"
    elementwise: bool = False

    def width(self, n_in: int) -> int:
        """Output rows for an input of ``n_in`` rows."""
        return n_in

    def out_shape(self, in_shapes) -> tuple[int, ...]:
        """The per-sample output shape for these input shapes: ``width`` rows and the input's columns (one for a
        sample of features, one a position for a sequence)."""
        return (self.width(in_shapes[0][0]), in_shapes[0][-1])

    def params(self, layer: int, n_in: int) -> tuple[Param, ...]:
        return ()

    def forward(self, site: Site) -> list[Step]:
        """The forward steps; the last defines ``site.out``."""
        raise NotImplementedError

    def local(self, site: Site) -> list[Step]:
        """Each local derivative of the output with respect to an input or a parameter."""
        raise NotImplementedError

    def vjp(self, site: Site, g: mx.M) -> list[tuple[Key, mx.M, mx.M | None]]:
        """``(key, shown, computed)`` for each input and parameter: the cost's gradient from ``g`` = dC/d(out).

        ``computed`` is ``None`` where the shown matrix form is what code computes.
        """
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name
