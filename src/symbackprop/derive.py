"""Derivation: every local derivative of backprop, the chain rule for every parameter, and the matrix form."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from . import matrix as mx
from . import naming
from .activations import a
from .costs import y
from .spec import Network, parse_spec


def layer_symbol(name: str) -> sp.Symbol:
    """A layer quantity (``Z2``, ``A1``, ``W2``) as one real symbol, as the reference writes it."""
    return sp.Symbol(name, real=True)


@dataclass(frozen=True)
class LocalDerivative:
    """``d{num}_d{den}``: its expression in layer symbols, and how it acts in matrix form."""

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
    factors: tuple[str, ...]
    expr: sp.Expr | None  # the product in layer symbols; meaningful as a scalar when all widths are 1
    matrix: mx.Mat  # the composed matrix form, e.g. ((W2ᵀ · dC_dZ2) ⊙ dA1_dZ1) · Xᵀ
    shape: tuple[int, int]

    @property
    def name(self) -> str:
        return naming.grad(self.param)

    @property
    def product(self) -> str:
        return " * ".join(self.factors)


class Derivation:
    """Everything symbackprop derives for one network and cost (see :func:`derive`)."""

    def __init__(self, network: Network):
        self.network = network
        self.cost = network.cost
        self.local: dict[str, LocalDerivative] = {}
        self._derive_local()
        self.combined: sp.Expr | None = self._combined()
        self.steps: list[mx.Step] = self._matrix_steps()
        self.chains: dict[str, Chain] = self._chains()

    # -- 1. local derivatives --------------------------------------------------------------
    def _derive_local(self) -> None:
        net, widths = self.network, self.network.widths()
        L = net.depth
        A_L, Y = layer_symbol(naming.act(L)), layer_symbol(naming.TARGET)
        cost_local = self.cost.derivative.subs({a: A_L, y: Y}, simultaneous=True)
        self._add(naming.grad(naming.act(L)), cost_local, "elementwise", (widths[L], 1))
        for layer in range(L, 0, -1):
            act = net.layers[layer - 1].activation
            Z, A = naming.pre(layer), naming.act(layer)
            Zs, As = layer_symbol(Z), layer_symbol(A)
            n, n_prev = widths[layer], widths[layer - 1]
            if act.elementwise:
                out_form = act.output_form.subs(a, As) if act.output_form is not None else None
                self._add(naming.local(A, Z), act.derivative_at(Zs), "elementwise", (n, 1), out_form)
            else:
                i, j = sp.symbols("i j", integer=True)
                Ai, Aj = sp.Symbol(f"{A}_i", real=True), sp.Symbol(f"{A}_j", real=True)
                self._add(naming.local(A, Z), Ai * (sp.KroneckerDelta(i, j) - Aj), "jacobian", (n, n))
            W, B, prev = layer_symbol(naming.weight(layer)), layer_symbol(naming.bias(layer)), naming.act(layer - 1)
            Zdef = W * layer_symbol(prev) + B
            if layer > 1:
                self._add(naming.local(Z, prev), sp.diff(Zdef, layer_symbol(prev)), "weights", (n, n_prev))
            self._add(naming.local(Z, naming.weight(layer)), sp.diff(Zdef, W), "inputs", (n_prev, 1))
            self._add(naming.local(Z, naming.bias(layer)), sp.diff(Zdef, B), "ones", (n, 1))

    def _add(self, name, expr, kind, shape, output_form=None) -> None:
        self.local[name] = LocalDerivative(name, expr, kind, shape, output_form)

    def _combined(self) -> sp.Expr | None:
        out = self.network.output.activation
        form = self.cost.combined(out)
        if form is None:
            return None
        L = self.network.depth
        return form.subs({a: layer_symbol(naming.act(L)), y: layer_symbol(naming.TARGET)}, simultaneous=True)

    @property
    def output_forms(self) -> dict[str, sp.Expr]:
        return {n: d.output_form for n, d in self.local.items() if d.output_form is not None}

    # -- 2. matrix (δ) form --------------------------------------------------------------------
    def _matrix_steps(self) -> list[mx.Step]:
        net, widths, L = self.network, self.network.widths(), self.network.depth
        steps = []
        A_L, Z_L = naming.act(L), naming.pre(L)
        out_shape = (widths[L], 1)
        if self.combined is not None:
            rhs = mx.sub(mx.sym(A_L, out_shape), mx.sym(naming.TARGET, out_shape))
        elif net.output.activation.elementwise:
            rhs = mx.had(mx.sym(naming.grad(A_L), out_shape), mx.sym(naming.local(A_L, Z_L), out_shape))
        else:
            jac = mx.sym(naming.local(A_L, Z_L), (widths[L], widths[L]))
            rhs = mx.vjp(jac, mx.sym(naming.grad(A_L), out_shape), mx.sym(A_L, out_shape))
        steps.append(mx.Step(naming.grad(Z_L), rhs))
        for layer in range(L, 0, -1):
            n, n_prev = widths[layer], widths[layer - 1]
            dZ = mx.sym(naming.grad(naming.pre(layer)), (n, 1))
            prev = naming.act(layer - 1)
            steps.append(mx.Step(naming.grad(naming.weight(layer)), mx.dot(dZ, mx.T(mx.sym(prev, (n_prev, 1))))))
            steps.append(mx.Step(naming.grad(naming.bias(layer)), dZ))
            if layer > 1:
                W = mx.sym(naming.weight(layer), (n, n_prev))
                steps.append(mx.Step(naming.grad(prev), mx.dot(mx.T(W), dZ)))
                Zp = naming.pre(layer - 1)
                local = mx.sym(naming.local(prev, Zp), (n_prev, 1))
                steps.append(mx.Step(naming.grad(Zp), mx.had(mx.sym(naming.grad(prev), (n_prev, 1)), local)))
        return steps

    # -- 3. chains ------------------------------------------------------------------------
    def params(self) -> list[str]:
        """Parameter names in the reference's order: output layer first."""
        out = []
        for layer in range(self.network.depth, 0, -1):
            out += [naming.weight(layer), naming.bias(layer)]
        return out

    def _chains(self) -> dict[str, Chain]:
        L = self.network.depth
        defs = {step.lhs: step.rhs for step in self.steps}
        chains = {}
        for layer in range(L, 0, -1):
            path = [naming.grad(naming.act(L)), naming.local(naming.act(L), naming.pre(L))]
            for k in range(L, layer, -1):
                path += [naming.local(naming.pre(k), naming.act(k - 1)),
                         naming.local(naming.act(k - 1), naming.pre(k - 1))]
            for param in (naming.weight(layer), naming.bias(layer)):
                factors = (*path, naming.local(naming.pre(layer), param))
                chains[param] = Chain(param, factors, self._product(factors),
                                      mx.substitute(defs[naming.grad(param)], defs),
                                      self.network.shapes()[param])
        return chains

    def _product(self, factors) -> sp.Expr:
        exprs = [self.local[f].expr for f in factors]
        if self.combined is not None:
            exprs = [self.combined, *exprs[2:]]
        return sp.Mul(*exprs)

    @property
    def is_scalar(self) -> bool:
        """True when every layer (and the input) has width 1, as in the reference."""
        return all(w == 1 for w in self.network.widths())

    @property
    def gradients(self) -> dict[str, sp.Expr]:
        """``{"W1": expr, ...}`` in layer symbols (scalar networks; see :attr:`entries` otherwise)."""
        return {p: c.expr for p, c in self.chains.items()}

    # -- 4. per-entry and expanded forms (built on demand) -----------------------------------
    @cached_property
    def entries(self):
        """The per-entry form: each entry's gradient through named per-entry intermediates."""
        from .entries import EntryForm

        return EntryForm(self.network)

    def expanded(self, cse: bool = False):
        """Each gradient entry in inputs, targets and parameter entries only (small networks)."""
        return self.entries.expanded(cse=cse)

    # -- 5. output ----------------------------------------------------------------------------
    def to_text(self, entries: bool = False, expanded: bool = False) -> str:
        from .render.text import render_text

        return render_text(self, entries=entries, expanded=expanded)

    def to_latex(self, entries: bool = False, expanded: bool = False) -> str:
        from .render.latex import render_latex

        return render_latex(self, entries=entries, expanded=expanded)

    def to_markdown(self, entries: bool = False, expanded: bool = False) -> str:
        from .render.latex import render_markdown

        return render_markdown(self, entries=entries, expanded=expanded)

    def to_json(self, expanded: bool = False) -> dict:
        from .render.text import render_json

        return render_json(self, expanded=expanded)

    def _repr_latex_(self) -> str:
        from .render.latex import render_latex

        return "$$" + render_latex(self, environment="aligned") + "$$"

    def _repr_html_(self) -> str:
        from .render.report import derivation_html

        return derivation_html(self)

    def compile(self, backend: str = "numpy", dtype="float64"):
        """A callable ``f(params, X, Y) -> (cost, grads)`` generated from this derivation."""
        from .codegen import compile_gradients

        return compile_gradients(self, backend=backend, dtype=dtype)

    def __repr__(self) -> str:
        return f"Derivation({self.network.spec!r}, cost={self.cost.name!r})"


def derive(spec: str | Network, cost: str | None = None) -> Derivation:
    """Derive the backprop of a network given as a spec string or :class:`Network`.

    >>> print(derive("1-1:relu-1:logistic").local["dA1_dZ1"])
    dA1_dZ1 = Heaviside(Z1, 0)
    """
    if isinstance(spec, Network):
        network = spec if cost is None else spec.with_cost(cost)
    else:
        network = parse_spec(spec, cost or "squared_error")
    return Derivation(network)
