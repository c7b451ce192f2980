"""Cost functions: each one object holding its SymPy definition; its derivative and code are derived from it."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import sympy as sp

from . import matexpr as mx
from . import naming
from .activations import a, left_heaviside, softplus, z
from .errors import SpecError
from .program import Step
from .registry import COSTS as REGISTRY

y = sp.Symbol("y", real=True)  # generic target entry


class Cost:
    """A per-sample cost ``C = sum_k c(A_k, Y_k)``; the cost of a batch is the mean over samples.

    ``fits`` names the output activations the cost is defined for (``None``: any).  ``pairs_with``
    names the output activation with which dC/dZ collapses to ``A - Y`` (checked by SymPy); with it the
    cost is computed from the logits (stable for any Z).
    """

    def __init__(self, name: str, definition: Callable, fits: tuple[str, ...] | None = None,
                 pairs_with: str | None = None, aliases=(), description: str = "", targets: str = "real"):
        self.name, self.definition, self.fits, self.pairs_with = name, definition, fits, pairs_with
        self.targets = targets  # "real", "binary" or "one-hot": what Y holds
        self.aliases, self.description = tuple(aliases), description
        self._verified = False

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
        return left_heaviside(sp.diff(self.expr, a))

    def at(self, aval, yval) -> sp.Expr:
        return self.expr.subs({a: aval, y: yval}, simultaneous=True)

    def derivative_at(self, aval, yval) -> sp.Expr:
        return self.derivative.subs({a: aval, y: yval}, simultaneous=True)

    def check_fits(self, activation) -> None:
        """Raise a clear error when this cost is not defined for that output activation."""
        if self.fits is not None and activation.name not in self.fits:
            raise SpecError(f"cost '{self.name}' needs a {' or '.join(self.fits)} output layer, "
                            f"not '{activation.name}'")

    def combined(self, activation) -> sp.Expr | None:
        """``dC/dZ`` of the output layer as ``a - y`` where this cost pairs with ``activation``."""
        if self.pairs_with is None or activation.name != self.pairs_with:
            return None
        if not self._verified:
            self._verified = _collapses(self, activation)
        return a - y

    # -- the Program's cost steps ----------------------------------------------------------------
    def steps(self, out_layer, site, target: mx.M) -> list[Step]:
        """The per-sample cost ``C``, from the logits where the output activation pairs with it."""
        A, Z = site.y, site.x()
        if self.combined(out_layer) is not None and out_layer.elementwise:
            f = mx.ScalarFn(self.name, softplus(z) - y * z, (z, y))
            expr = mx.fn(f, Z, target)
        elif self.combined(out_layer) is not None:
            expr = mx.had(target, mx.sub(out_layer.log_normaliser(site), Z))
        else:
            expr = mx.fn(mx.ScalarFn(self.name, self.expr, (a, y)), A, target)
        return [Step(naming.C, mx.colsum(expr), (1, 1), "cost")]

    def local(self, site, target: mx.M) -> Step:
        """``dC_dA`` of the output layer, derived by SymPy."""
        f = mx.ScalarFn(str(naming.grad(site.out)), self.derivative, (a, y))
        scalar = self.derivative_at(naming.symbol(site.out), naming.symbol(target.key))
        return Step(naming.grad(site.out), mx.fn(f, site.y, target), site.shape, "local", scalar=scalar,
                    kind="elementwise")


def _collapses(cost: Cost, activation) -> bool:
    """SymPy checks that dC/dZ is ``A - Y`` (for softmax with targets summing to 1)."""
    if activation.elementwise:
        raw = sp.diff(cost.at(activation.expr, y), z)
        ok = sp.simplify(raw - (activation.expr - y)) == 0
    else:
        n = 3
        zs, ys = sp.symbols(f"z0:{n}", real=True), sp.symbols(f"y0:{n}", real=True)
        total_exp = sum(sp.exp(v) for v in zs)
        outs = [sp.exp(v) / total_exp for v in zs]
        total = sum(sp.expand_log(cost.at(o, t), force=True) for o, t in zip(outs, ys))
        raw = sp.diff(total, zs[0]).subs(ys[-1], 1 - sum(ys[:-1]))
        ok = sp.simplify(raw - (outs[0] - ys[0])) == 0
    if not ok:  # pragma: no cover - a SymPy regression
        raise AssertionError(f"{cost.name} with {activation.name} does not collapse to A - Y")
    return True


def register(cost: Cost) -> Cost:
    """Add a cost to the names ``--cost`` may use."""
    return REGISTRY.register(cost.name, cost, cost.aliases)


SQUARED_ERROR = register(Cost("squared_error", lambda av, yv: (av - yv) ** 2, aliases=("mse", "squared"),
                              description="C = sum_k (A_k - Y_k)^2"))
HALF_SQUARED_ERROR = register(Cost("half_squared_error", lambda av, yv: (av - yv) ** 2 / 2,
                                   aliases=("half_mse", "half_squared"),
                                   description="C = 1/2 sum_k (A_k - Y_k)^2 (its derivative A - Y: no factor 2)"))
BINARY_CROSS_ENTROPY = register(Cost(
    "binary_cross_entropy", lambda av, yv: -(yv * sp.log(av) + (1 - yv) * sp.log(1 - av)),
    fits=("logistic",), pairs_with="logistic", aliases=("bce", "log_loss"), targets="binary",
    description="C = -sum_k [Y_k log A_k + (1 - Y_k) log(1 - A_k)]"))
CROSS_ENTROPY = register(Cost(
    "cross_entropy", lambda av, yv: -yv * sp.log(av), fits=("softmax",), pairs_with="softmax",
    aliases=("ce", "categorical_cross_entropy"), targets="one-hot", description="C = -sum_k Y_k log A_k"))


q = sp.Symbol("q", real=True)  # the true class's score, Σ_k y_k a_k (the multiclass hinge's coupling)


class MulticlassHinge(Cost):
    """The multiclass SVM cost on scores A with one-hot targets (Weston and Watkins; a vision course's
    ``svm_loss``): ``C = Σ_k (1 − Y_k)·max(0, A_k − Q + 1)`` with ``Q = Σ_k Y_k A_k``, the true class's score.
    Its entries are coupled through Q, so its steps are its own: Q, then C, and
    ``dC_dA_k = (1 − Y_k)·H(A_k − Q + 1) − Y_k·Σ_j (1 − Y_j)·H(A_j − Q + 1)`` (H(0) = 0), derived by SymPy."""

    def __init__(self):
        super().__init__("multiclass_hinge", lambda av, yv: (1 - yv) * sp.Max(0, av - q + 1),
                         aliases=("svm", "hinge"), targets="one-hot",
                         description="C = sum_k (1 - Y_k) max(0, A_k - Q + 1), Q = sum_k Y_k A_k (a multiclass SVM)")

    @staticmethod
    def _q(site) -> naming.Key:
        return naming.Key("Q", site.out.layer)

    def steps(self, out_layer, site, target: mx.M) -> list[Step]:
        Q = mx.ref(self._q(site), (1, 1))
        term = mx.fn(mx.ScalarFn(self.name, self.expr, (a, y, q)), site.y, target, Q)
        k = sp.Symbol("k", integer=True)
        true = sp.Sum(naming.symbol(target.key, ("k",), f"{target.key}_k") *
                      naming.symbol(site.out, ("k",), f"{site.out}_k"), (k, 1, site.shape[0]))
        return [Step(self._q(site), mx.colsum(mx.had(target, site.y)), (1, 1), "forward", scalar=true,
                     kind="the true class's score"),
                Step(naming.C, mx.colsum(term), (1, 1), "cost")]

    def local(self, site, target: mx.M) -> Step:
        Q = mx.ref(self._q(site), (1, 1))
        own = mx.fn(mx.ScalarFn(f"d{self.name}", self.derivative, (a, y, q)), site.y, target, Q)
        expr = mx.sub(own, mx.had(target, mx.colsum(own)))  # through A_k itself, then through Q = Σ Y_k A_k
        k, j = sp.symbols("k j", integer=True)
        Ak, Aj = (naming.symbol(site.out, (i,), f"{site.out}_{i}") for i in ("k", "j"))
        Yk, Yj = (naming.symbol(target.key, (i,), f"{target.key}_{i}") for i in ("k", "j"))
        Qs = naming.symbol(self._q(site))

        step = left_heaviside(sp.diff(sp.Max(0, a - q + 1), a))  # H(a − q + 1), H(0) = 0

        def own_at(ai, yi):  # (1 − y)·H(a − Q + 1), kept as that product for the eye
            return sp.Mul(1 - yi, step.subs({a: ai, q: Qs}), evaluate=False)

        scalar = own_at(Ak, Yk) - Yk * sp.Sum(own_at(Aj, Yj), (j, 1, site.shape[0]))
        return Step(naming.grad(site.out), expr, site.shape, "local", scalar=scalar, kind="coupled through Q")


MULTICLASS_HINGE = register(MulticlassHinge())
COSTS = REGISTRY.view()

# Not a training cost: with G (an upstream gradient dL/dA) as the target, its sweep is the network's
# vector-Jacobian product, what a framework's backward asks of a layer (the JAX and PyTorch exports).
UPSTREAM = Cost("upstream", lambda av, gv: av * gv,
                description="C = sum_k A_k G_k: the upstream gradient G pulled back through the network")


def get_cost(name) -> Cost:
    """The cost called ``name`` (or an alias); a clear error with a suggestion otherwise."""
    return name if isinstance(name, Cost) else REGISTRY.get(name)
