"""The Derivation: a network's Program viewed as the reference does — local derivatives, chains, matrix form."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..errors import SymbackpropError
from ..grammar import parse_spec
from ..registry import BACKENDS, RENDERERS
from ..spec import Network
from .sweep import chain_product, paths, route_factors, sweep

COMPOSE_LIMIT = 5_000  # factors of the chain rule, written path by path, that the printers show
SECONDS_PER_NODE = 1e-3  # deriving is linear in the graph's nodes: 3,000 layers (6,000 nodes) took 4.4 s here
MAX_SECONDS = 60


@dataclass(frozen=True)
class LocalDerivative:
    """``d{num}_d{den}``: its expression in layer symbols (derived by SymPy) and how it acts in matrix form."""

    name: str
    expr: sp.Expr
    kind: str  # "elementwise", "jacobian" (softmax), "weights" (W), "inputs" (A_prev), "ones"
    shape: tuple[int, int]
    output_form: sp.Expr | None = None

    def __str__(self) -> str:
        return f"{self.name} = {self.expr}"


@dataclass(frozen=True)
class Chain:
    """The chain rule for one parameter: its factor names, scalar product and matrix form."""

    param: str
    key: naming.Key
    factors: tuple[str, ...]
    expr: sp.Expr | None  # the product in layer symbols; meaningful as a scalar when all widths are 1
    matrix: mx.M  # the composed matrix form, e.g. ((W2ᵀ · dC_dZ2) ⊙ dA1_dZ1) · Xᵀ
    shape: tuple[int, int]
    routes: tuple[tuple[str, ...], ...] = ()  # every path from the cost (a residual connection makes two)

    @property
    def name(self) -> str:
        return str(naming.grad(self.key))

    @property
    def product(self) -> str:
        """``dC_dA2 * dA2_dZ2 * ...``; with several paths, their sum."""
        return " + ".join(" * ".join(r) for r in self.routes or (self.factors,))


class Derivation:
    """Everything symbackprop derives for one network and cost (see :func:`derive`)."""

    def __init__(self, network: Network):
        self.network = network
        self.cost = network.cost
        self.program = sweep(network)
        self.local: dict[str, LocalDerivative] = {
            s.lhs: LocalDerivative(s.lhs, s.scalar, s.kind, s.shape, s.output_form)
            for s in self.program.role("local")}
        self.combined: sp.Expr | None = self.program.combined
        self.steps = self.program.role("delta", "gradient")
        self.composed = route_factors(network) <= COMPOSE_LIMIT

    @cached_property
    def chains(self) -> dict[str, Chain]:
        """The chain rule of each parameter, path by path, with its product and composed matrix form; its size grows
        with the square of the depth (and with the paths of residual connections), so the printers show it only
        where :attr:`composed` (at most :data:`COMPOSE_LIMIT` factors in all)."""
        return self._chains()

    @property
    def output_forms(self) -> dict[str, sp.Expr]:
        return {n: d.output_form for n, d in self.local.items() if d.output_form is not None}

    def params(self) -> list[str]:
        """Parameter names in the reference's order: output layer first."""
        return [p.name for p in self._params_output_first()]

    def _params_output_first(self):
        by_layer: dict[int, list] = {}
        for p in self.network.params:
            by_layer.setdefault(p.key.layer, []).append(p)
        return [p for layer in sorted(by_layer, reverse=True) for p in by_layer[layer]]

    def _chains(self) -> dict[str, Chain]:
        defs = {s.key: s.rhs for s in self.steps}
        owner = {p.key: node.site.out for node in self.network.nodes for p in node.site.params}
        chains, memo = {}, {}
        for p in self._params_output_first():
            routes = tuple(tuple(str(f) for f in route + [naming.local(owner[p.key], p.key)])
                           for route in paths(self.network, owner[p.key], memo))
            expr = sp.Add(*(chain_product(self.program, self.local, r) for r in routes))
            chains[p.name] = Chain(p.name, p.key, routes[0], expr, mx.substitute(defs[naming.grad(p.key)], defs),
                                   p.shape, routes)
        return chains

    @property
    def closed_forms(self) -> list[tuple[str, str]]:
        """``(form, proof)`` for each layer that states a closed form for its VJP (a norm), with what proves it (an
        attention layer states its own once, at its first head: the others return ``None``)."""
        forms = (node.layer.closed_form(node.site) for node in self.network.nodes if hasattr(node.layer, "closed_form"))
        return [form for form in forms if form is not None]

    @property
    def is_scalar(self) -> bool:
        """True when every layer (and the input) has width 1, as in the reference."""
        return all(w == 1 for w in self.network.widths())

    @property
    def gradients(self) -> dict[str, sp.Expr]:
        """``{"W1": expr, ...}`` in layer symbols (scalar networks; see :attr:`entries` otherwise)."""
        return {p: c.expr for p, c in self.chains.items()}

    @cached_property
    def entries(self):
        self.network.require_matrices("the per-entry form (--entries, --expanded, --cse)")
        """The per-entry form: the Program lowered entry by entry through named intermediates."""
        from .lower import EntryForm

        return EntryForm(self.program)

    def expanded(self, cse: bool = False):
        """Each gradient entry in inputs, targets and parameter entries only (small networks)."""
        return self.entries.expanded(cse=cse)

    # -- printers and backends, looked up in their registries ----------------------------------
    def to_text(self, entries: bool = False, expanded: bool = False, cse: bool = False) -> str:
        return RENDERERS.get("text")(self, entries=entries, expanded=expanded, cse=cse)

    def to_latex(self, entries: bool = False, expanded: bool = False, cse: bool = False) -> str:
        return RENDERERS.get("latex")(self, entries=entries, expanded=expanded, cse=cse)

    def to_markdown(self, entries: bool = False, expanded: bool = False, cse: bool = False) -> str:
        return RENDERERS.get("markdown")(self, entries=entries, expanded=expanded, cse=cse)

    def to_json(self, expanded: bool = False, entries: bool = False, cse: bool = False) -> dict:
        return RENDERERS.get("json")(self, expanded=expanded, entries=entries, cse=cse)

    def _repr_latex_(self) -> str:
        return "$$" + RENDERERS.get("latex")(self, environment="aligned") + "$$"

    def _repr_html_(self) -> str:
        return RENDERERS.get("html")(self)

    def compile(self, backend: str = "numpy", dtype="float64"):
        """A callable ``f(params, X, Y) -> (cost, grads)`` generated from this derivation's Program.

        ``backend``: numpy or numba (NumPy arrays back), jax or torch (that framework's arrays back, from
        the derived Program: no ``jax.grad``, no ``backward()``).  Samples are columns; the cost is the mean.
        """
        if str(dtype) not in ("float32", "float64"):
            raise SymbackpropError(f"dtype must be float32 or float64, not {dtype!r}")
        return BACKENDS.get(backend).compile(self, dtype=str(dtype))

    def __repr__(self) -> str:
        return f"Derivation({self.network.spec!r}, cost={self.cost.name!r})"

    def __str__(self) -> str:
        """``print(derivation)`` prints the derivation itself."""
        return self.to_text()


def derive(spec: str | Network, cost: str | None = None, l2: float | None = None) -> Derivation:
    """Derive the backprop of a network given as a spec string or :class:`Network`.

    >>> print(derive("1-1:relu-1:logistic").local["dA1_dZ1"])
    dA1_dZ1 = Heaviside(Z1, 0)
    """
    if isinstance(spec, Network):
        network = spec if cost is None else spec.with_cost(cost)
    else:
        network = parse_spec(spec, cost)
    seconds = len(network.nodes) * SECONDS_PER_NODE
    if seconds > MAX_SECONDS:
        raise SymbackpropError(f"deriving {network.depth:,} layers ({len(network.nodes):,} nodes) would take about "
                               f"{seconds:,.0f} s; symbackprop derives networks it can do within {MAX_SECONDS} s")
    return Derivation(network if l2 is None else network.with_l2(l2))
