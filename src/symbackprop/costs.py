"""Cost functions: each one object holding its SymPy definition and all derived from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from .activations import LOGISTIC, SOFTMAX, Activation, a, softplus, z
from .errors import SpecError, did_you_mean

y = sp.Symbol("y", real=True)  # generic target entry


@dataclass(frozen=True, eq=False)
class Cost:
    """A per-sample cost ``C = sum_k c(A_k, Y_k)``; the cost of a batch is the mean over samples.

    ``fits`` names the output activations the cost is defined for (``None``: any).
    ``pairs_with`` is the output activation with which dC/dZ collapses to ``A - Y``.
    """

    name: str
    definition: Callable[[sp.Expr, sp.Expr], sp.Expr]
    fits: tuple[Activation, ...] | None = None
    pairs_with: Activation | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""

    def __repr__(self) -> str:
        return f"Cost({self.name!r})"

    def __str__(self) -> str:
        return self.name

    @cached_property
    def expr(self) -> sp.Expr:
        """``c(a, y)`` for one output entry."""
        return self.definition(a, y)

    @cached_property
    def derivative(self) -> sp.Expr:
        """``dc/da``, derived by SymPy (the reference's ``dC_dA2 = 2*A2 - 2*Y``)."""
        return sp.diff(self.expr, a)

    def at(self, aval: sp.Expr, yval: sp.Expr) -> sp.Expr:
        return self.expr.subs({a: aval, y: yval}, simultaneous=True)

    def derivative_at(self, aval: sp.Expr, yval: sp.Expr) -> sp.Expr:
        return self.derivative.subs({a: aval, y: yval}, simultaneous=True)

    def check_fits(self, activation: Activation) -> None:
        """Raise a clear error when this cost is not defined for that output activation."""
        if self.fits is not None and activation not in self.fits:
            names = " or ".join(act.name for act in self.fits)
            raise SpecError(
                f"cost '{self.name}' needs a {names} output layer, not '{activation.name}'"
            )

    def combined(self, activation: Activation) -> sp.Expr | None:
        """``dC/dZ`` of the output layer as ``a - y`` where this cost pairs with ``activation``.

        The collapse is derived once by SymPy (for softmax using that the targets sum to 1).
        """
        if self.pairs_with is not activation:
            return None
        _verify_collapse(self, activation)
        return a - y

    def code_cost(self, zs: list, outs: list, ys: list, lse=None) -> sp.Expr:
        """The per-sample cost for generated code, from the logits where that is stabler."""
        if self.pairs_with is LOGISTIC and all(isinstance(v, sp.Basic) for v in zs):
            return sum(softplus(zk) - yk * zk for zk, yk in zip(zs, ys))
        if self.pairs_with is SOFTMAX and lse is not None:
            return sum(yk * (lse - zk) for zk, yk in zip(zs, ys))
        return sum(self.at(ak, yk) for ak, yk in zip(outs, ys))


_VERIFIED: set[str] = set()


def _verify_collapse(cost: Cost, activation: Activation) -> None:
    if cost.name in _VERIFIED:
        return
    if activation.elementwise:
        raw = sp.diff(cost.at(activation.expr, y), z)
        ok = sp.simplify(raw - (activation.expr - y)) == 0
    else:
        n = 3
        zs = sp.symbols(f"z0:{n}", real=True)
        ys = sp.symbols(f"y0:{n}", real=True)
        outs = SOFTMAX.raw_entries(list(zs))
        total = sum(sp.expand_log(cost.at(o, t), force=True) for o, t in zip(outs, ys))
        raw = sp.diff(total, zs[0]).subs(ys[-1], 1 - sum(ys[:-1]))
        ok = sp.simplify(raw - (outs[0] - ys[0])) == 0
    if not ok:  # pragma: no cover - a SymPy regression
        raise AssertionError(f"{cost.name} with {activation.name} does not collapse to A - Y")
    _VERIFIED.add(cost.name)


SQUARED_ERROR = Cost(
    "squared_error", lambda av, yv: (av - yv) ** 2, aliases=("mse", "squared"),
    description="C = sum_k (A_k - Y_k)^2",
)
BINARY_CROSS_ENTROPY = Cost(
    "binary_cross_entropy",
    lambda av, yv: -(yv * sp.log(av) + (1 - yv) * sp.log(1 - av)),
    fits=(LOGISTIC,),
    pairs_with=LOGISTIC,
    aliases=("bce", "log_loss"),
    description="C = -sum_k [Y_k log A_k + (1 - Y_k) log(1 - A_k)]",
)
CROSS_ENTROPY = Cost(
    "cross_entropy",
    lambda av, yv: -yv * sp.log(av),
    fits=(SOFTMAX,),
    pairs_with=SOFTMAX,
    aliases=("ce", "categorical_cross_entropy"),
    description="C = -sum_k Y_k log A_k",
)

COSTS: dict[str, Cost] = {c.name: c for c in (SQUARED_ERROR, BINARY_CROSS_ENTROPY, CROSS_ENTROPY)}
_BY_NAME = {alias: c for c in COSTS.values() for alias in (c.name, *c.aliases)}


def get_cost(name: str | Cost) -> Cost:
    """The cost called ``name`` (or an alias); a clear error with a suggestion otherwise."""
    if isinstance(name, Cost):
        return name
    key = str(name).strip().lower()
    if key in _BY_NAME:
        return _BY_NAME[key]
    raise SpecError(f"unknown cost {str(name)!r}{did_you_mean(key, _BY_NAME)}"
                    f" (choose from {', '.join(COSTS)})")
