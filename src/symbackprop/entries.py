"""The per-entry form: the chain rule entry by entry through named intermediates, and the expanded form."""

from __future__ import annotations

from functools import cached_property

import sympy as sp

from . import naming
from .activations import a
from .costs import y
from .errors import SpecError
from .spec import Network

ENTRY_LIMIT = 2000  # parameters; above this nothing is written entry by entry (use the matrix form)


class EntryForm:
    """Forward definitions and the backward program of a network, one SymPy symbol per entry.

    ``forward``: ``[(Z1_0, W1_0_0*X_0 + ... + B1_0), (A1_0, Max(0, Z1_0)), ...]``.
    ``backward``: ``[(dC_dZ2, ...), (dC_dW2_0, dC_dZ2*A1_0), ...]``, each right-hand side in earlier
    names; :attr:`gradients` composes them into named forward intermediates (Z, A, W, X, Y).
    With ``code=True`` activation derivatives take their output form and logistic/softplus their
    stable nodes (what generated code uses).
    """

    def __init__(self, network: Network, code: bool = False):
        self.network = network
        self.code = code
        self.lse = None
        if network.n_params > ENTRY_LIMIT:
            raise SpecError(
                f"the per-entry and fully expanded forms are limited to {ENTRY_LIMIT} parameters and "
                f"{network.spec} has {network.n_params}; use the matrix form instead"
            )
        widths = network.widths()
        self.X = naming.symbols(naming.INPUT, (widths[0], 1))
        self.Y = naming.symbols(naming.TARGET, (widths[-1], 1))
        self.params = {name: naming.symbols(name, shape) for name, shape in network.shapes().items()}
        self.Z: list[sp.Matrix] = [None]
        self.A: list[sp.Matrix] = [self.X]
        for layer in range(1, network.depth + 1):
            self.Z.append(naming.symbols(naming.pre(layer), (widths[layer], 1)))
            self.A.append(naming.symbols(naming.act(layer), (widths[layer], 1)))
        self.forward = self._forward()
        self.backward = self._backward()

    def _forward(self) -> list[tuple[sp.Symbol, sp.Expr]]:
        out = []
        for layer, dense in enumerate(self.network.layers, start=1):
            W, B = self.params[naming.weight(layer)], self.params[naming.bias(layer)]
            zdef = W * self.A[layer - 1] + B
            out += list(zip(self.Z[layer], zdef))
            act, zs = dense.activation, list(self.Z[layer])
            if act.elementwise:
                defs = [act.code_forward(v) if self.code else act.at(v) for v in zs]
            elif self.code:  # shift by the max so that no exponential overflows
                m, _, s, lse = (sp.Symbol(n, real=True) for n in naming.softmax_temps(layer))
                out += [(m, sp.Max(*zs) if len(zs) > 1 else zs[0]),
                        (s, sum(sp.exp(v - m) for v in zs)), (lse, m + sp.log(s))]
                defs = [sp.exp(v - m) / s for v in zs]
                self.lse = lse
            else:
                defs = act.raw_entries(zs)
            out += list(zip(self.A[layer], defs))
        return out

    def _backward(self) -> list[tuple[sp.Symbol, sp.Expr]]:
        net, L = self.network, self.network.depth
        prog: list[tuple[sp.Symbol, sp.Expr]] = []
        zdefs = dict(self.forward)

        def dsym(name: str) -> sp.Symbol:
            return sp.Symbol(naming.grad(name), real=True)

        out_act, Z_L, A_L = net.output.activation, list(self.Z[L]), list(self.A[L])
        combined = net.cost.combined(out_act)
        if combined is not None:
            dZ = [combined.subs({a: ak, y: yk}, simultaneous=True) for ak, yk in zip(A_L, self.Y)]
        else:
            dA = [net.cost.derivative_at(ak, yk) for ak, yk in zip(A_L, self.Y)]
            dA_syms = [dsym(s.name) for s in A_L]
            prog += list(zip(dA_syms, dA))
            dZ = self._through_activation(out_act, Z_L, A_L, dA_syms)
        for layer in range(L, 0, -1):
            dZ_syms = [dsym(s.name) for s in self.Z[layer]]
            prog += list(zip(dZ_syms, dZ))
            W = self.params[naming.weight(layer)]
            B = self.params[naming.bias(layer)]
            prev = list(self.A[layer - 1])
            for i, zi in enumerate(self.Z[layer]):
                for j in range(W.shape[1]):
                    prog.append((dsym(W[i, j].name), dZ_syms[i] * sp.diff(zdefs[zi], W[i, j])))
                prog.append((dsym(B[i].name), dZ_syms[i] * sp.diff(zdefs[zi], B[i])))
            if layer > 1:
                dA_syms = [dsym(s.name) for s in prev]
                dA = [sum(dZ_syms[i] * sp.diff(zdefs[zi], p) for i, zi in enumerate(self.Z[layer]))
                      for p in prev]
                prog += list(zip(dA_syms, dA))
                act = net.layers[layer - 2].activation
                dZ = self._through_activation(act, list(self.Z[layer - 1]), prev, dA_syms)
        return prog

    def _through_activation(self, act, zs, outs, dA_syms) -> list[sp.Expr]:
        if act.elementwise:
            deriv = [act.code_derivative(zv, av) if self.code else act.derivative_at(zv)
                     for zv, av in zip(zs, outs)]
            return [g * d for g, d in zip(dA_syms, deriv)]
        jac = act.jacobian(zs, outs)
        return [sum(dA_syms[k] * jac[k, i] for k in range(len(zs))) for i in range(len(zs))]

    def gradient_names(self) -> list[str]:
        """Entry names of every parameter, layer by layer in the reference's order (output first)."""
        names = []
        for layer in range(self.network.depth, 0, -1):
            for pname in (naming.weight(layer), naming.bias(layer)):
                names += [s.name for s in self.params[pname]]
        return names

    @cached_property
    def gradients(self) -> dict[str, sp.Expr]:
        """``{"W1_0_1": expr, ...}``: each entry's gradient in named forward intermediates."""
        done: dict[sp.Symbol, sp.Expr] = {}
        for lhs, rhs in self.backward:
            done[lhs] = rhs.xreplace(done)
        wanted = set(self.gradient_names())
        return {lhs.name[len("dC_d"):]: expr for lhs, expr in done.items()
                if lhs.name[len("dC_d"):] in wanted}

    def substitution(self) -> dict[sp.Symbol, sp.Expr]:
        """Each Z and A entry in inputs and parameter entries only."""
        subs: dict[sp.Symbol, sp.Expr] = {}
        for lhs, rhs in self.forward:
            subs[lhs] = rhs.xreplace(subs)
        return subs

    def cost_expr(self) -> sp.Expr:
        """The per-sample cost in the output layer's entries and the targets."""
        L = self.network.depth
        return sum(self.network.cost.at(ak, yk) for ak, yk in zip(self.A[L], self.Y))

    def expanded(self, cse: bool = False):
        """Every gradient entry in X, Y and parameter entries only; with ``cse`` a ``(replacements, dict)``."""
        subs = self.substitution()
        out = {name: expr.xreplace(subs) for name, expr in self.gradients.items()}
        if not cse:
            return out
        replacements, reduced = sp.cse(list(out.values()))
        return replacements, dict(zip(out, reduced))
