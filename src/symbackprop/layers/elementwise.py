"""Elementwise layers ``y = f(x; p)``: the forward definition in SymPy; every derivative derived by SymPy."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Param, Step
from .base import Layer, Site

z = sp.Symbol("z", real=True)  # generic input entry
a = sp.Symbol("a", real=True)  # generic output entry


def left_heaviside(expr: sp.Expr) -> sp.Expr:
    """Fix every step function to its left-hand value at the kink, so that H(0) = 0.

    SymPy's ``diff(Max(z, 0), z)`` is ``Heaviside(z)`` with H(0) = 1/2.  At a kink symbackprop
    takes the derivative's left-hand value, as PyTorch does: ``H(c*u)`` becomes ``H(u, 0)`` for
    c > 0 and ``1 - H(u, 0)`` for c < 0 (so leaky_relu'(0) is its slope, 0.01).
    """

    def fix(*args):
        coeff, rest = sp.sympify(args[0]).as_coeff_Mul()
        if coeff.is_negative:
            return 1 - sp.Heaviside(rest, 0)
        return sp.Heaviside(rest, 0)

    if expr.has(sp.sign):  # |z|' = sign(z): at 0 its left-hand value, -1
        expr = expr.replace(sp.sign, lambda u: 2 * sp.Heaviside(u) - 1)
    return sp.expand(expr.replace(sp.Heaviside, fix)) if expr.has(sp.Heaviside) else expr


class Elementwise(Layer):
    """``y = f(x; p)`` entry by entry, with per-unit parameters ``p`` of shape (n, 1).

    A subclass gives ``name``, ``definition(x, **p)`` (SymPy) and, for each name in ``param_names``,
    an initial value in ``param_init`` ("zeros" or "ones").  ``stable(x, **p)`` is the same function
    in numerically stable nodes, for code.  The derivatives, their output forms and the kink policy
    come from SymPy.
    """

    kind: ClassVar[str] = "elementwise"
    symbol: ClassVar[str] = "A"
    elementwise = True
    param_names: ClassVar[tuple[str, ...]] = ()
    param_init: ClassVar[dict] = {}
    outputs: str = "real"  # "probability" for an output read as P(class 1)
    he_init: bool = False

    def definition(self, x, **p):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def stable(self, x, **p):
        return self.definition(x, **p)

    @cached_property
    def psyms(self) -> dict[str, sp.Symbol]:
        return {n: sp.Symbol(n, real=True) for n in self.param_names}

    @cached_property
    def expr(self) -> sp.Expr:
        """``f(z)`` in the generic symbol ``z`` (and the parameters' own names)."""
        return sp.sympify(self.definition(z, **self.psyms))

    @cached_property
    def derivative(self) -> sp.Expr:
        """``f'(z)``, derived by SymPy, with step functions at their left-hand value."""
        return left_heaviside(sp.diff(self.expr, z))

    @cached_property
    def code_derivative(self) -> sp.Expr:
        """``f'(z)`` for code where there is no output form: SymPy's derivative of the stable definition, so
        that it stays in the stable nodes (softplus' is logistic, not exp(z)/(exp(z) + 1))."""
        return left_heaviside(sp.diff(sp.sympify(self.stable(z, **self.psyms)), z))

    @cached_property
    def param_derivatives(self) -> dict[str, sp.Expr]:
        return {n: left_heaviside(sp.diff(self.expr, s)) for n, s in self.psyms.items()}

    @cached_property
    def output_form(self) -> sp.Expr | None:
        """``f'(z)`` written in the output ``a = f(z)``, where it has one (``a*(1 - a)``)."""
        d = self.derivative
        if self.param_names or d.has(sp.Heaviside):
            return None
        if not d.free_symbols:
            return d
        direct = d.subs(self.expr, a)
        if z not in direct.free_symbols:
            return direct
        functions = self.expr.atoms(sp.Function)
        if self.expr.count(z) > 1:
            return None  # z in several places (z·tanh(z + z³)): no inverse to solve for (SymPy would search long)
        if not functions or not all(isinstance(f, (sp.exp, sp.log, sp.tanh)) for f in functions):
            return None  # only the plain exponential family has an output form worth finding (z**3 has none:
            # its inverse's real branch, a**(1/3), is NaN in code for a < 0)
        try:
            inverses = sp.solve(sp.Eq(a, self.expr), z)
        except NotImplementedError:
            return None
        for inverse in inverses:
            form = sp.simplify(d.subs(z, inverse))
            if z not in form.free_symbols and form.atoms(sp.Function) <= form.atoms(sp.exp) and not form.has(sp.sqrt):
                return form  # in the output and exp only, e.g. 1 - a**2 or 1 - exp(-a)
        return None

    @property
    def traits(self) -> frozenset:
        return frozenset({"kink"} if self.derivative.has(sp.Heaviside, sp.Max, sp.Min, sp.sign) else ())

    @cached_property
    def dead_left(self) -> bool:
        """True when the derivative is 0 for every negative input (a unit below 0 learns nothing)."""
        return not self.param_names and all(self.derivative.subs(z, v) == 0 for v in (-1, -100))

    def at(self, zval: sp.Expr) -> sp.Expr:
        return self.expr.subs(z, zval)

    def derivative_at(self, zval: sp.Expr) -> sp.Expr:
        return self.derivative.subs(z, zval)

    # -- the layer protocol --------------------------------------------------------------------
    def out_shape(self, in_shapes) -> tuple[int, ...]:
        return tuple(in_shapes[0])  # entry by entry: any shape, an image's too

    def params(self, layer: int, n_in: int) -> tuple[Param, ...]:
        return tuple(Param(naming.Key(n, layer), (n_in, 1), self.param_init.get(n, "zeros"))
                     for n in self.param_names)

    def _args(self, site: Site) -> tuple[list[mx.M], tuple[sp.Symbol, ...]]:
        return [site.x(), *(mx.ref(q.key, q.shape) for q in site.params)], (z, *self.psyms.values())

    def _in_layer_symbols(self, expr: sp.Expr, site: Site) -> sp.Expr:
        subs = {z: naming.symbol(site.ins[0]), a: naming.symbol(site.out)}
        subs.update({s: naming.symbol(q.key) for s, q in zip(self.psyms.values(), site.params)})
        return expr.xreplace(subs)

    def forward(self, site: Site) -> list[Step]:
        args, syms = self._args(site)
        f = mx.ScalarFn(self.name, sp.sympify(self.stable(z, **self.psyms)), syms)
        return [Step(site.out, mx.fn(f, *args), site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        args, syms = self._args(site)
        key = naming.local(site.out, site.ins[0])
        form = self.output_form
        if form is not None:
            code = mx.fn(mx.ScalarFn(str(key), form, (a,)), site.y)
        else:
            code = mx.fn(mx.ScalarFn(str(key), self.code_derivative, syms), *args)
        out = [Step(key, code, site.shape, "local", scalar=self._in_layer_symbols(self.derivative, site),
                    output_form=None if form is None else self._in_layer_symbols(form, site), kind="elementwise")]
        for q, d in zip(site.params, self.param_derivatives.values()):
            k = naming.local(site.out, q.key)
            out.append(Step(k, mx.fn(mx.ScalarFn(str(k), d, syms), *args), site.shape, "local",
                            scalar=self._in_layer_symbols(d, site), kind="elementwise"))
        return out

    def vjp(self, site: Site, g: mx.M):
        out = [(site.ins[0], mx.had(g, mx.ref(naming.local(site.out, site.ins[0]), site.shape)), None)]
        out += [(q.key, mx.had(g, mx.ref(naming.local(site.out, q.key), site.shape)), None) for q in site.params]
        return out
