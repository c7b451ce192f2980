"""The embedding ``Z = E[:, X]`` (a table's columns picked by token ids, ``nn.Embedding``) and its proven VJP.

Per entry: ``Z[j, t] = E[j, X[t]]`` = ``Σ_v E[j, v]·[X[t] = v]``, so ``dZ[j, t]/dE[j, v] = [X[t] = v]`` and
``dC/dE[j, v] = Σ_n,t dC/dZ[j, t]·[X[t] = v]``: each incoming column added into the table's column of its token — a
scatter-add, where a token that occurs twice gets both columns.  Ids are not learned: nothing flows back to X.
:func:`vjp_holds` proves it against SymPy's own derivative of the one-hot form, with repeated tokens.
"""

from __future__ import annotations

import itertools
from functools import cache

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Param, Step
from .base import Layer, Site


def table(layer: int) -> naming.Key:
    """``E{l}``: the embedding table of layer ``l``, (dim, vocab) — ``nn.Embedding.weight`` transposed."""
    return naming.Key("E", layer)


@cache
def vjp_holds(ids: tuple[int, ...], vocab: int, dim: int = 2) -> bool:
    """SymPy: for the token ids ``ids`` (repeats allowed) and a symbolic table, the derivative of ``Σ G·Z`` (Z the
    one-hot form ``Σ_v E[j, v]·[X[t] = v]``) by every table entry equals the scatter-add of G at the ids."""
    E = sp.Matrix(dim, vocab, lambda j, v: sp.Symbol(f"e{j}_{v}"))
    G = sp.Matrix(dim, len(ids), lambda j, t: sp.Symbol(f"g{j}_{t}"))
    C = sum(G[j, t] * sum(E[j, v] * (1 if ids[t] == v else 0) for v in range(vocab))
            for j, t in itertools.product(range(dim), range(len(ids))))
    for j, v in itertools.product(range(dim), range(vocab)):
        scattered = sum((G[j, t] for t, token in enumerate(ids) if token == v), sp.Integer(0))
        if sp.expand(sp.diff(C, E[j, v]) - scattered) != 0:
            return False
    return True


class Embedding(Layer):
    """``Z = E[:, X]``: each token id becomes its column of the table ``E{l}`` (dim, vocab), drawn from N(0, 1)
    as ``nn.Embedding``.  A context ``window`` reads T ids (T, 1) per sample and gives (dim, T, 1), which flatten
    joins; a sequence reads one id a position (1, T) and gives (dim, T), one column a position."""

    kind = "embedding"
    symbol = "Z"

    def __init__(self, vocab: int, dim: int, window: bool = True):
        self.vocab, self.dim, self.window = vocab, dim, window
        self.name = f"embedding({vocab}, {dim})"

    def out_shape(self, in_shapes) -> tuple[int, ...]:
        return (self.dim, *in_shapes[0]) if self.window else (self.dim, in_shapes[0][1])

    def params(self, layer: int, n_in: int) -> tuple[Param, ...]:
        return (Param(table(layer), (self.dim, self.vocab), "normal", matrix=True, penalised=True),)

    def _table(self, site: Site) -> mx.M:
        key = table(site.layer)
        return mx.ref(key, (self.dim, self.vocab))

    def forward(self, site: Site) -> list[Step]:
        return [Step(site.out, mx.gather(self._table(site), site.x(), self.window), site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        """``dZ[j, t]/dE[j, v] = [X[t] = v]``: one where the token is v (shown; the VJP scatters)."""
        t, v = sp.symbols("t v", integer=True)
        one_hot = sp.KroneckerDelta(sp.IndexedBase(str(site.ins[0]))[t], v)
        return [Step(naming.local(site.out, table(site.layer)), None, (self.dim, self.vocab), "local",
                     scalar=one_hot, kind="one-hot")]


    def vjp(self, site: Site, g: mx.M):
        return [(table(site.layer), mx.scatter(g, site.x(), self.vocab), None)]

    def closed_form(self, site: Site) -> tuple[str, str]:
        """The per-entry rule and the scatter-add people write, and what proved it."""
        E, X, Z = table(site.layer), site.ins[0], site.out
        dz = naming.grad(Z)
        text = (f"{Z}[j,t] = {E}[j, {X}[t]] = Σ_v {E}[j,v]·[{X}[t] = v];  d{Z}[j,t]/d{E}[j,v] = [{X}[t] = v], so "
                f"dC_d{E}[:, v] = Σ_n,t {dz}[:, t]·[{X}[t] = v]: each column of {dz} added into the column of its "
                f"token (a scatter-add; a repeated token gets the sum, a token not in the batch 0)")
        ids = (0, 2, 0, 1)
        ok = vjp_holds(ids, 3)
        proof = ("proven by SymPy: its derivative of Σ G·Z, with Z written one-hot entry by entry, equals the "
                 f"scatter-add for every table entry (ids {list(ids)}: a repeated token; vocabulary 3, dimension 2)"
                 if ok else "NOT proven: SymPy's derivative differs (a bug: please report it)")
        return text, proof


def positional(layer: int) -> naming.Key:
    """``P{l}``: the learned positional table of layer ``l``, (dim, T)."""
    return naming.Key("P", layer)


class Positional(Layer):
    """``Z = A + P[:, t]`` at each position t: a learned table ``P{l}`` (dim, T), drawn from N(0, 1) as
    ``nn.Embedding``, added to a sequence as GPT-2 adds its position embeddings (an embedding of the positions)."""

    kind = "positional"
    symbol = "Z"

    def __init__(self, length: int, dim: int):
        self.length, self.dim = length, dim
        self.name = f"positional({length}, {dim})"

    def params(self, layer: int, n_in: int) -> tuple[Param, ...]:
        return (Param(positional(layer), (self.dim, self.length), "normal", matrix=True, penalised=True),)

    def _table(self, site: Site) -> mx.M:
        return mx.ref(positional(site.layer), (self.dim, self.length))

    def forward(self, site: Site) -> list[Step]:
        added = mx.gather(self._table(site), mx.positions(self.length), window=False)
        return [Step(site.out, mx.add(site.x(), added), site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        """``dZ[j, t]/dA[j, t] = 1`` and ``dZ[j, t]/dP[j, s] = [t = s]``."""
        t, s = sp.symbols("t s", integer=True)
        out = [Step(naming.local(site.out, positional(site.layer)), None, (self.dim, self.length), "local",
                    scalar=sp.KroneckerDelta(t, s), kind="one-hot")]
        if site.needs_grad[0]:
            out.insert(0, Step(naming.local(site.out, site.ins[0]), mx.ones(site.shape), site.shape, "local",
                               scalar=sp.Integer(1), kind="ones"))
        return out

    def vjp(self, site: Site, g: mx.M):
        return [(positional(site.layer), mx.scatter(g, mx.positions(self.length), self.length), None),
                (site.ins[0], g, None)]

    def closed_form(self, site: Site) -> tuple[str, str]:
        P, A, Z = positional(site.layer), site.ins[0], site.out
        dz = naming.grad(Z)
        text = (f"{Z}[:, t] = {A}[:, t] + {P}[:, t];  dC_d{A} = {dz}, and dC_d{P}[:, t] = Σ_n {dz}[:, t]: each "
                "position's column summed over the batch (the embedding's scatter-add at ids 0 .. T − 1)")
        ids = tuple(range(min(self.length, 4)))
        ok = vjp_holds(ids, len(ids))
        proof = (f"proven by SymPy as the embedding's scatter-add at the positions {list(ids)}" if ok else
                 "NOT proven: SymPy's derivative differs (a bug: please report it)")
        return text, proof
