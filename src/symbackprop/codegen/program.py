"""One generator: the per-sample program (entries, CSE) and the batch program (matrix form)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from .. import naming
from ..activations import SOFTMAX
from ..entries import EntryForm


@dataclass
class ScalarProgram:
    """Straight-line code for one sample, every name a scalar.

    ``forward``: Z and A entries (stable forms); ``cost``: the sample's cost; ``temps``: the common
    subexpressions of the gradients; ``grads``: ``{param: [[expr]]}`` in the network's shapes.
    """

    network: object
    inputs: list[sp.Symbol]
    targets: list[sp.Symbol]
    outputs: list[sp.Symbol]
    forward: list[tuple[sp.Symbol, sp.Expr]]
    cost: sp.Expr
    temps: list[tuple[sp.Symbol, sp.Expr]]
    grads: dict[str, list[list[sp.Expr]]]

    @cached_property
    def shapes(self) -> dict[str, tuple[int, int]]:
        return self.network.shapes()

    @property
    def params(self) -> list[str]:
        return list(self.shapes)

    def flops(self) -> tuple[int, int]:
        """Operation counts (SymPy's ``count_ops``) of the forward pass and of the backward pass."""
        fwd = sum(sp.count_ops(e) for _, e in self.forward) + len(self.forward)
        bwd = sum(sp.count_ops(e) for _, e in self.temps)
        bwd += sum(sp.count_ops(e) for rows in self.grads.values() for row in rows for e in row)
        return int(fwd), int(bwd + sp.count_ops(self.cost))


def scalar_program(network) -> ScalarProgram:
    """Derive the per-sample program for ``network``: its per-entry gradients, after CSE."""
    ef = EntryForm(network, code=True)
    L = network.depth
    zs, outs, ys = list(ef.Z[L]), list(ef.A[L]), list(ef.Y)
    lse = ef.lse if network.output.activation is SOFTMAX else None
    cost = network.cost.code_cost(zs, outs, ys, lse=lse)
    names = ef.gradient_names()
    composed = ef.gradients
    exprs = [composed[n] for n in names]
    temps, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("t"), optimizations="basic")
    by_name = dict(zip(names, reduced))
    grads = {}
    for pname, shape in network.shapes().items():
        grads[pname] = [[by_name[naming.entry(pname, shape, i, j)] for j in range(shape[1])]
                        for i in range(shape[0])]
    return ScalarProgram(network, list(ef.X), ys, outs, ef.forward, cost, temps, grads)


@dataclass
class BatchStep:
    """A line of the batch program: ``lhs = code`` with a comment naming its equation."""

    lhs: str
    code: str
    comment: str = ""


def batch_program(derivation, printer, mean: bool = True) -> tuple[list[BatchStep], list[BatchStep], str]:
    """The matrix form as NumPy over a batch (samples as columns): ``(forward, backward, cost)``.

    The cost is a mean over the m samples; with ``mean`` the output layer's ``dC_dZ`` (or ``dC_dA``)
    carries ``1/m`` too, so that every gradient is a mean; without it the gradients are sums.
    """
    per_m = " / m" if mean else ""
    from ..activations import a
    from ..costs import y
    from ..matrix import to_numpy, to_text

    net = derivation.network
    L = net.depth
    fwd: list[BatchStep] = []
    for layer, dense in enumerate(net.layers, start=1):
        Z, A, prev = naming.pre(layer), naming.act(layer), naming.act(layer - 1)
        fwd.append(BatchStep(Z, f"{naming.weight(layer)} @ {prev} + {naming.bias(layer)}",
                             f"{Z} = {naming.weight(layer)}·{prev} + {naming.bias(layer)}"))
        if dense.activation is SOFTMAX:  # shifted by the column max: no exponential overflows
            M, E, S, _ = naming.softmax_temps(layer)
            fwd.append(BatchStep(M, f"{Z}.max(axis=0, keepdims=True)", "column max, for stability"))
            fwd.append(BatchStep(E, f"np.exp({Z} - {M})", ""))
            fwd.append(BatchStep(S, f"{E}.sum(axis=0, keepdims=True)", ""))
            code = f"{E} / {S}"
        else:
            code = printer.doprint(dense.activation.code_forward(sp.Symbol(Z)))
        fwd.append(BatchStep(A, code, f"{A} = {dense.activation.name}({Z})"))
    Z_L, A_L, Y = (sp.Symbol(n) for n in (naming.pre(L), naming.act(L), naming.TARGET))
    if net.cost.pairs_with is net.output.activation and net.output.activation is SOFTMAX:
        # sum_k Y_k (LSE - Z_k) with sum_k Y_k = 1 per sample, as the collapse dC_dZ = A - Y assumes
        M, _, S, _ = naming.softmax_temps(L)
        cost = f"((np.log({S}) + {M}).sum() - np.vdot(Y, {Z_L})) / m"
    else:
        per = net.cost.code_cost([Z_L], [A_L], [Y])
        cost = f"({printer.doprint(per)}).sum() / m"
    leaves: dict[str, str] = {}
    if derivation.combined is None:
        local = net.cost.derivative.subs({a: A_L, y: Y}, simultaneous=True)
        leaves[naming.grad(A_L.name)] = f"({printer.doprint(local)}){per_m}" if mean else printer.doprint(local)
    for layer, dense in enumerate(net.layers, start=1):
        if dense.activation.elementwise:
            Zs, As = sp.Symbol(naming.pre(layer)), sp.Symbol(naming.act(layer))
            expr = dense.activation.code_derivative(Zs, As)
            leaves[naming.local(As.name, Zs.name)] = printer.doprint(expr)
    bwd: list[BatchStep] = []
    used = set()
    for step in derivation.steps:
        for leaf in _leaf_names(step.rhs):
            if leaf in leaves and leaf not in used:
                used.add(leaf)
                bwd.append(BatchStep(leaf, leaves[leaf], f"{leaf}, local derivative"))
        code = to_numpy(step.rhs)
        if step.lhs == naming.grad(Z_L.name) and derivation.combined is not None and mean:
            code = f"({code}) / m"
        if step.lhs.startswith("dC_dB"):
            code = f"{code}.sum(axis=1, keepdims=True)" if step.rhs.op == "sym" else \
                f"({code}).sum(axis=1, keepdims=True)"
        bwd.append(BatchStep(step.lhs, code, f"{step.lhs} = {to_text(step.rhs)}"))
    return fwd, bwd, cost


def _leaf_names(x) -> list[str]:
    if x.op == "sym":
        return [x.name]
    return [n for arg in x.args for n in _leaf_names(arg)]


def needed(statements: list[tuple[sp.Symbol, sp.Expr]], roots) -> list[tuple[sp.Symbol, sp.Expr]]:
    """The statements that ``roots`` (expressions) depend on, in their original order."""
    wanted: set[sp.Symbol] = set()
    for r in roots:
        wanted |= r.free_symbols
    keep = []
    for lhs, rhs in reversed(statements):
        if lhs in wanted:
            keep.append((lhs, rhs))
            wanted |= rhs.free_symbols
    return keep[::-1]
