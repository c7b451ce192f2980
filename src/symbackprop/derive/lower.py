"""Lowering a Program entry by entry: the per-entry backward pass, per-entry gradients, the expanded form."""

from __future__ import annotations

from functools import cached_property

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..errors import SpecError, SymbackpropError
from ..program import Program

ENTRY_LIMIT = 2000  # parameters; above this nothing is written entry by entry (use the matrix form)
# Limits on the estimated size (operations, each name replaced by its definition) of the expanded form:
# printing 813,563 took 21 s here, and common-subexpression elimination took 54 s at 162,633,171 for a
# five-layer tanh network but 3-8 s from 10 to 128 million for shallower ones: about 30 s at most each.
EXPANDED_LIMIT = 1_000_000
CSE_LIMIT = 50_000_000


def entries_of(x: mx.M, env: dict) -> sp.Matrix:
    """The entries of a matrix expression, each a SymPy expression in the entries of what it reads."""
    if x.op == "ref":
        return env[x.key]
    if x.op == "ones":
        return sp.ones(*x.shape)
    if x.op == "const":
        return sp.Matrix(*x.shape, lambda i, j: sp.Float(x.value))
    if x.op == "bmean":
        raise SymbackpropError("batchnorm averages over the batch, so its per-entry form is not one sample's: "
                               "derive it without --entries/--expanded/--cse")
    args = [entries_of(a, env) for a in x.args]
    if x.op == "T":
        return args[0].T
    if x.op == "dot":
        return args[0] * args[1]
    if x.op in ("colsum", "colmax"):
        m = args[0]
        reduce = (lambda v: sp.Add(*v)) if x.op == "colsum" else (lambda v: sp.Max(*v))
        return sp.Matrix(1, m.cols, lambda i, j: reduce(list(m[:, j])))

    def at(mat, i, j):
        return mat[0, 0] if mat.shape == (1, 1) else mat[i, j]

    r, c = x.shape
    if x.op == "fn":
        return sp.Matrix(r, c, lambda i, j: x.fn.at(*(at(m, i, j) for m in args)))
    combine = {"had": sp.Mul, "add": sp.Add, "sub": lambda u, v: u - v}[x.op]
    return sp.Matrix(r, c, lambda i, j: combine(*(at(m, i, j) for m in args)))


class EntryForm:
    """A Program lowered to one SymPy symbol per entry.

    ``forward``: ``[(Z1_0, W1_0_0*X_0 + ... + B1_0), (A1_0, Max(0, Z1_0)), ...]``; ``backward``: the local
    derivatives, δ and gradient entries in earlier names (``dC_dW2_0_1 = dC_dZ2*A1_1``);
    :attr:`gradients` composes them into named forward intermediates (Z, A, W, X, Y).
    """

    def __init__(self, program: Program):
        size = sum(p.size for p in program.params)
        if size > ENTRY_LIMIT:
            raise SpecError(f"the per-entry and fully expanded forms are limited to {ENTRY_LIMIT} parameters and "
                            f"{program.spec} has {size}; use the matrix form instead")
        self.program = program
        env = {program.input.key: naming.symbols(program.input.key, program.input.shape),
               program.target.key: naming.symbols(program.target.key, program.target.shape)}
        for p in program.params:
            env[p.key] = naming.symbols(p.key, p.shape, p.matrix)
        matrix = {naming.grad(p.key): p.matrix for p in program.params}
        self.X, self.Y = env[program.input.key], env[program.target.key]
        self.params = {p.name: env[p.key] for p in program.params}
        self.forward: list[tuple[sp.Symbol, sp.Expr]] = []
        self.backward: list[tuple[sp.Symbol, sp.Expr]] = []
        roots = [program.cost] + [naming.grad(p.key) for p in program.params]
        for step in program.needed(roots):
            rhs = entries_of(step.expr, env)
            lhs = naming.symbols(step.key, step.shape, matrix.get(step.key, False))
            env[step.key] = lhs
            pairs = list(zip(lhs, rhs))
            if step.role == "cost":
                self.cost = rhs[0, 0]
            elif step.role == "forward":
                self.forward += pairs
            else:
                self.backward += pairs
        self.env = env

    def gradient_names(self) -> list[str]:
        """Entry names of every parameter, in the Program's order."""
        return [s.name for p in self.program.params for s in self.params[p.name]]

    @cached_property
    def gradients(self) -> dict[str, sp.Expr]:
        """``{"W1_0_1": expr, ...}``: each entry's gradient in named forward intermediates."""
        done: dict[sp.Symbol, sp.Expr] = {}
        for lhs, rhs in self.backward:
            done[lhs] = rhs.xreplace(done)
        out = {}
        for p in self.program.params:
            grads = self.env[naming.grad(p.key)]
            for sym, g in zip(self.params[p.name], grads):
                out[sym.name] = done[g]
        return out

    def substitution(self) -> dict[sp.Symbol, sp.Expr]:
        """Each forward entry in inputs and parameter entries only."""
        subs: dict[sp.Symbol, sp.Expr] = {}
        for lhs, rhs in self.forward:
            subs[lhs] = rhs.xreplace(subs)
        return subs

    def expanded_size(self) -> int:
        """An estimate of the operations in the expanded form (each name replaced by its definition)."""
        size: dict[sp.Symbol, int] = {}
        for lhs, rhs in self.forward + self.backward:
            size[lhs] = sp.count_ops(rhs) + sum(size.get(s, 1) for s in rhs.free_symbols)
        return sum(size[g] for p in self.program.params for g in self.env[naming.grad(p.key)])

    def expanded(self, cse: bool = False):
        """Every gradient entry in X, Y and parameter entries only; with ``cse`` a ``(replacements, dict)``."""
        estimate, limit = self.expanded_size(), CSE_LIMIT if cse else EXPANDED_LIMIT
        if estimate > limit:
            what = "common-subexpression form" if cse else "expanded form"
            raise SpecError(f"the {what} of {self.program.spec} would take more than about 30 s (an estimated "
                            f"{estimate:,} operations, limit {limit:,}); use --entries or the matrix form")
        subs = self.substitution()
        out = {name: expr.xreplace(subs) for name, expr in self.gradients.items()}
        if not cse:
            return out
        replacements, reduced = sp.cse(list(out.values()))
        return replacements, dict(zip(out, reduced))
