"""Activation functions: each one object holding its SymPy definition and all derived from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from .errors import SpecError, did_you_mean

z = sp.Symbol("z", real=True)  # generic pre-activation entry
a = sp.Symbol("a", real=True)  # generic activation entry


class logistic(sp.Function):
    """The logistic function as one node, which code printers emit as a numerically stable helper."""

    nargs = 1

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))


class softplus(sp.Function):
    """``log(1 + exp(x))`` as one node, emitted as a stable ``logaddexp(0, x)`` by code printers."""

    nargs = 1

    def fdiff(self, argindex=1):
        return logistic(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))


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

    return sp.expand(expr.replace(sp.Heaviside, fix)) if expr.has(sp.Heaviside) else expr


@dataclass(frozen=True, eq=False)
class Activation:
    """An activation: its SymPy definition ``f(z)`` and what SymPy derives from it.

    ``definition`` is written as the reference writes it (``1/(1 + exp(-z))``), so the derived
    derivative reads the same; ``stable`` is the same function in the stable nodes above, for code.
    """

    name: str
    definition: Callable[[sp.Expr], sp.Expr]
    stable: Callable[[sp.Expr], sp.Expr] | None = None
    aliases: tuple[str, ...] = ()
    elementwise: bool = True
    description: str = field(default="", compare=False)

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"

    def __str__(self) -> str:
        return self.name

    @cached_property
    def expr(self) -> sp.Expr:
        """``f(z)`` in the generic symbol ``z``."""
        return self.definition(z)

    @cached_property
    def derivative(self) -> sp.Expr:
        """``f'(z)``, derived by SymPy, with step functions at their left-hand value."""
        return left_heaviside(sp.diff(self.expr, z))

    @cached_property
    def output_form(self) -> sp.Expr | None:
        """``f'(z)`` written in the output ``a = f(z)``, where it has one (``a*(1 - a)``)."""
        if not self.elementwise or self.derivative.has(sp.Heaviside):
            return None
        if self.derivative.free_symbols == set():
            return self.derivative
        direct = self.derivative.subs(self.expr, a)
        if z not in direct.free_symbols:
            return direct
        for inverse in sp.solve(sp.Eq(a, self.expr), z):
            form = sp.simplify(self.derivative.subs(z, inverse))
            if z not in form.free_symbols and not form.has(sp.log, sp.sqrt):
                return form
        return None

    def at(self, zval: sp.Expr) -> sp.Expr:
        """The definition applied to ``zval``."""
        return self.expr.subs(z, zval)

    def derivative_at(self, zval: sp.Expr) -> sp.Expr:
        """``f'`` at ``zval``, in the pre-activation."""
        return self.derivative.subs(z, zval)

    def code_forward(self, zval: sp.Expr) -> sp.Expr:
        """``f(zval)`` in numerically stable nodes, for generated code."""
        return (self.stable or self.definition)(zval)

    def code_derivative(self, zval: sp.Expr, aval: sp.Expr) -> sp.Expr:
        """``f'`` for generated code: the output form where there is one (cheap, stable)."""
        if self.output_form is not None:
            return self.output_form.subs(a, aval)
        return self.derivative_at(zval)


def _softmax_jacobian_check(n: int = 3) -> sp.Matrix:
    """The softmax Jacobian on ``n`` entries, derived by SymPy and checked against its output form."""
    zs = sp.symbols(f"z0:{n}", real=True)
    s = sum(sp.exp(v) for v in zs)
    out = [sp.exp(v) / s for v in zs]
    jac = sp.Matrix(n, n, lambda i, j: sp.diff(out[i], zs[j]))
    form = sp.Matrix(n, n, lambda i, j: out[i] * (int(i == j) - out[j]))
    if sp.simplify(jac - form) != sp.zeros(n, n):  # pragma: no cover - a SymPy regression
        raise AssertionError("softmax Jacobian does not reduce to A_i*(delta_ij - A_j)")
    return jac


class Softmax(Activation):
    """Softmax over the whole layer: ``A_i = exp(Z_i) / sum_j exp(Z_j)``; output layer only.

    It is not elementwise, so it has no scalar ``derivative``: its local derivative is the Jacobian.
    """

    @property
    def derivative(self):
        raise TypeError("softmax is not elementwise: use Softmax.jacobian")

    def jacobian(self, zs: list[sp.Expr], outs: list[sp.Expr]) -> sp.Matrix:
        """``dA_dZ`` in output form ``A_i*(delta_ij - A_j)``, verified by SymPy once per process."""
        _checked_softmax()
        n = len(zs)
        return sp.Matrix(n, n, lambda i, j: outs[i] * (int(i == j) - outs[j]))

    def raw_entries(self, zs: list[sp.Expr]) -> list[sp.Expr]:
        """The definition applied to a vector of pre-activations."""
        s = sum(sp.exp(v) for v in zs)
        return [sp.exp(v) / s for v in zs]


_SOFTMAX_CHECKED: list[bool] = []


def _checked_softmax() -> None:
    if not _SOFTMAX_CHECKED:
        _softmax_jacobian_check()
        _SOFTMAX_CHECKED.append(True)


IDENTITY = Activation("identity", lambda x: x, aliases=("linear",), description="f(z) = z")
RELU = Activation("relu", lambda x: sp.Max(x, 0), description="f(z) = max(z, 0)")
LEAKY_RELU = Activation(
    "leaky_relu", lambda x: sp.Max(x, sp.Rational(1, 100) * x), description="f(z) = max(z, z/100)"
)
LOGISTIC = Activation(
    "logistic",
    lambda x: 1 / (1 + sp.exp(-x)),
    stable=logistic,
    aliases=("sigmoid",),
    description="f(z) = 1/(1 + exp(-z))",
)
TANH = Activation("tanh", sp.tanh, description="f(z) = tanh(z)")
SOFTPLUS = Activation(
    "softplus", lambda x: sp.log(1 + sp.exp(x)), stable=softplus, description="f(z) = log(1 + exp(z))"
)
SOFTMAX = Softmax(
    "softmax",
    lambda x: sp.exp(x),  # numerator only; the layer divides by the sum (see Softmax)
    elementwise=False,
    description="A_i = exp(Z_i) / sum_j exp(Z_j)",
)

ACTIVATIONS: dict[str, Activation] = {
    act.name: act for act in (IDENTITY, RELU, LEAKY_RELU, LOGISTIC, TANH, SOFTPLUS, SOFTMAX)
}
_BY_NAME = {alias: act for act in ACTIVATIONS.values() for alias in (act.name, *act.aliases)}


def get_activation(name: str | Activation) -> Activation:
    """The activation called ``name`` (or an alias); a clear error with a suggestion otherwise."""
    if isinstance(name, Activation):
        return name
    key = str(name).strip().lower()
    if key in _BY_NAME:
        return _BY_NAME[key]
    raise SpecError(f"unknown activation {str(name)!r}{did_you_mean(key, _BY_NAME)}"
                    f" (choose from {', '.join(ACTIVATIONS)})")
