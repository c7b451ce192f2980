"""Activation functions: each one object holding its SymPy definition; everything else is derived from it."""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from .layers.elementwise import Elementwise, a, left_heaviside, z
from .layers.softmax import Softmax
from .registry import ACTIVATIONS as REGISTRY

__all__ = ["ACTIVATIONS", "Activation", "a", "get_activation", "left_heaviside", "logistic", "softplus", "z"]


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


class Activation(Elementwise):
    """An activation ``f(z)``: its SymPy definition, written as the reference writes it
    (``1/(1 + exp(-z))``) so the derived derivative reads the same; ``stable`` is the same function in
    the stable nodes above, for code; ``he_init`` asks the layer before it for He initialisation."""

    kind = "activation"

    def __init__(self, name: str, definition: Callable, stable: Callable | None = None, aliases=(),
                 description: str = "", he_init: bool = False, outputs: str = "real"):
        self.name, self._definition, self._stable = name, definition, stable
        self.aliases, self.description, self.he_init = tuple(aliases), description, he_init
        self.outputs = outputs

    def definition(self, x, **p):
        return self._definition(x)

    def stable(self, x, **p):
        return (self._stable or self._definition)(x)

    def code_forward(self, zval: sp.Expr) -> sp.Expr:
        return self.stable(zval)

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


def register(act, aliases=()):
    """Add an activation (or an elementwise layer object) to the names specs may use."""
    return REGISTRY.register(act.name, act, aliases or getattr(act, "aliases", ()))


IDENTITY = register(Activation("identity", lambda x: x, aliases=("linear",), description="f(z) = z"))
RELU = register(Activation("relu", lambda x: sp.Max(x, 0), description="f(z) = max(z, 0)", he_init=True))
LEAKY_RELU = register(Activation("leaky_relu", lambda x: sp.Max(x, sp.Rational(1, 100) * x),
                                 description="f(z) = max(z, z/100)", he_init=True))
LOGISTIC = register(Activation("logistic", lambda x: 1 / (1 + sp.exp(-x)), stable=logistic,
                               aliases=("sigmoid",), description="f(z) = 1/(1 + exp(-z))",
                               outputs="probability"))
TANH = register(Activation("tanh", sp.tanh, description="f(z) = tanh(z)"))
SOFTPLUS = register(Activation("softplus", lambda x: sp.log(1 + sp.exp(x)), stable=softplus,
                               description="f(z) = log(1 + exp(z))"))
GELU = register(Activation("gelu", lambda x: x * (1 + sp.erf(x / sp.sqrt(2))) / 2, he_init=True,
                           description="f(z) = z·Φ(z) = z(1 + erf(z/√2))/2 (exact, as torch's F.gelu)"))
GELU_TANH = register(Activation(
    "gelu_tanh", lambda x: x * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (x + sp.Rational(44715, 1000000) * x ** 3))) / 2,
    he_init=True, description="f(z) = z(1 + tanh(√(2/π)(z + 0.044715z³)))/2 (GPT-2's; F.gelu(approximate='tanh'))"))
SOFTMAX = register(Softmax())


# name -> activation, a live read-only view of the registry (so registered ones show too)
ACTIVATIONS = REGISTRY.view()


def get_activation(name) -> Elementwise | Softmax:
    """The activation called ``name`` (or an alias), or an activation object as it is."""
    if isinstance(name, (Elementwise, Softmax)):
        return name
    return REGISTRY.get(name)
