"""Self-attention, head by head: the scores ``S = Kᵀ·Q/√d``, the causal mask, the mix ``O = V·P``, and their VJPs.

Per sample a sequence is (features, T), one column a position, so a head's queries, keys and values are (d, T) and
its scores (T keys × T queries); the softmax over the keys is a column's softmax (the ``Softmax`` layer's, with its
own names).  The backward pass people derive by hand, in this layout: ``dV = dO·Pᵀ``, ``dP = Vᵀ·dO``,
``dS = P ⊙ (dP − Σ_keys(P ⊙ dP))`` with the mask's zeros, ``dQ = K·dS/√d``, ``dK = Q·dSᵀ/√d``.
:func:`vjp_holds` proves it against SymPy's own derivative of the per-entry definition at random points.
"""

from __future__ import annotations

import itertools
import random
from functools import cache

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Step
from .base import Layer, Site
from .softmax import Softmax


def head_size(site: Site, heads: int) -> int:
    return site.in_shapes[0][0] // heads


def closed_forms(Q, K, V, G, P, scale) -> dict:
    """dC/dQ, dC/dK and dC/dV of ``Σ G ⊙ O`` as the layer computes them (SymPy matrices): ``dP = Vᵀ·G``,
    ``dS = P ⊙ (dP − Σ_keys(P ⊙ dP))`` (0 where P is: the mask's zeros), ``dQ = K·dS·scale``,
    ``dK = Q·dSᵀ·scale``, ``dV = G·Pᵀ``."""
    T = P.shape[0]
    dP = V.T * G
    dS = sp.Matrix(T, T, lambda s, t: P[s, t] * (dP[s, t] - sum(P[r, t] * dP[r, t] for r in range(T))))
    return {"q": K * dS * scale, "k": Q * dS.T * scale, "v": G * P.T}


@cache
def vjp_holds(T: int = 3, d: int = 2, causal: bool = True, points: int = 3, seed: int = 0) -> bool:
    """SymPy: for symbolic Q, K, V (d, T) and an upstream G, the derivative of ``Σ G ⊙ O`` (O the attention output
    written entry by entry: scores, mask, softmax over keys, mix) by every Q, K and V entry equals the closed forms,
    at ``points`` random points (to 1e-25 at 40 digits: exponentials do not simplify exactly)."""
    Q, K, V, G = (sp.Matrix(d, T, lambda i, j, n=n: sp.Symbol(f"{n}{i}_{j}")) for n in "qkvg")
    scale = 1 / sp.sqrt(d)
    keep = [[not causal or s <= t for t in range(T)] for s in range(T)]  # key s, query t
    S = sp.Matrix(T, T, lambda s, t: sum(K[i, s] * Q[i, t] for i in range(d)) * scale)
    P = sp.zeros(T, T)
    for t in range(T):
        total = sum(sp.exp(S[s, t]) for s in range(T) if keep[s][t])
        for s in range(T):
            P[s, t] = sp.exp(S[s, t]) / total if keep[s][t] else 0
    O = V * P
    C = sum(G[i, t] * O[i, t] for i in range(d) for t in range(T))
    forms = closed_forms(Q, K, V, G, P, scale)
    rng = random.Random(seed)
    for _ in range(points):
        at = {sym: sp.Rational(rng.randint(-9, 9), 7) for sym in C.free_symbols}
        for name, M in zip("qkv", (Q, K, V)):
            for i, j in itertools.product(range(d), range(T)):
                diff = (sp.diff(C, M[i, j]) - forms[name][i, j]).xreplace(at)
                if abs(sp.N(diff, 40)) > 1e-25:
                    return False
    return True


class Heads(Layer):
    """Head ``k`` of ``heads``: its share of the features, rows k·d to (k + 1)·d (d = features / heads), as
    PyTorch splits them."""

    kind = "heads"
    symbol = "Q"

    def __init__(self, k: int, heads: int):
        self.k, self.heads = k, heads
        self.name = f"head {k + 1} of {heads}"

    def width(self, n_in: int) -> int:
        return n_in // self.heads

    def forward(self, site: Site) -> list[Step]:
        d = head_size(site, self.heads)
        return [Step(site.out, mx.rows(site.x(), self.k * d, (self.k + 1) * d), site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        i, j = sp.symbols("i j", integer=True)
        d = head_size(site, self.heads)
        return [Step(naming.local(site.out, site.ins[0]), None, site.in_shapes[0], "local",
                     scalar=sp.KroneckerDelta(i, j + self.k * d), kind="re-indexing")]

    def vjp(self, site: Site, g: mx.M):
        d = head_size(site, self.heads)
        return [(site.ins[0], mx.unrows(g, self.k * d, site.in_shapes[0][0]), None)]


class Scores(Layer):
    """``S = Kᵀ·Q/√d`` (keys × queries), with the causal mask: a key after its query gets −∞ (weight 0)."""

    kind = "attention-scores"
    symbol = "S"

    def __init__(self, causal: bool):
        self.causal = causal
        self.name = "scores" + (" (causal)" if causal else "")

    def out_shape(self, in_shapes) -> tuple[int, ...]:
        T = in_shapes[0][1]
        return (T, T)

    def forward(self, site: Site) -> list[Step]:
        d = site.in_shapes[0][0]
        s = mx.had(mx.const(1 / d ** 0.5), mx.sdot(site.x(1), site.x(0), ta=True))
        return [Step(site.out, mx.causal(s, -1.0) if self.causal else s, site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        """``dS[s, t]/dQ[i, t] = K[i, s]/√d`` and ``dS[s, t]/dK[i, s] = Q[i, t]/√d`` (0 where masked)."""
        i, s, t = sp.symbols("i s t", integer=True)
        d = site.in_shapes[0][0]
        Q, K = (sp.IndexedBase(str(k)) for k in site.ins)
        return [Step(naming.local(site.out, site.ins[0]), None, site.in_shapes[0], "local",
                     scalar=K[i, s] / sp.sqrt(d), kind="scores-queries"),
                Step(naming.local(site.out, site.ins[1]), None, site.in_shapes[1], "local",
                     scalar=Q[i, t] / sp.sqrt(d), kind="scores-keys")]

    def vjp(self, site: Site, g: mx.M):
        c = mx.const(1 / site.in_shapes[0][0] ** 0.5)
        g = mx.causal(g, 0.0) if self.causal else g  # the mask's zeros
        return [(site.ins[0], mx.had(c, mx.sdot(site.x(1), g)), None),
                (site.ins[1], mx.had(c, mx.sdot(site.x(0), g, tb=True)), None)]


class KeySoftmax(Softmax):
    """The softmax over the keys, a column of the scores at a time (its own names: ``m``, ``e``, ``s``)."""

    kind = "attention-softmax"
    symbol = "P"
    traits = frozenset()
    name = "softmax over keys"

    def _temps(self, site: Site):
        layer, head = site.out.layer, site.out.head
        return naming.Key("m", layer, head), naming.Key("e", layer, head), naming.Key("s", layer, head)


class Mix(Layer):
    """``O = V·P``: each query's output, the values weighted by its column of attention weights."""

    kind = "attention-mix"
    symbol = "O"

    def __init__(self, heads: int, causal: bool, first: bool):
        self.heads, self.causal, self.first = heads, causal, first
        self.name = "attention mix"

    def out_shape(self, in_shapes) -> tuple[int, ...]:
        return in_shapes[0]

    def forward(self, site: Site) -> list[Step]:
        return [Step(site.out, mx.sdot(site.x(0), site.x(1)), site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        """``dO[i, t]/dV[i, s] = P[s, t]`` and ``dO[i, t]/dP[s, t] = V[i, s]``."""
        i, s, t = sp.symbols("i s t", integer=True)
        V, P = (sp.IndexedBase(str(k)) for k in site.ins)
        return [Step(naming.local(site.out, site.ins[0]), None, site.in_shapes[0], "local", scalar=P[s, t],
                     kind="mix-values"),
                Step(naming.local(site.out, site.ins[1]), None, site.in_shapes[1], "local", scalar=V[i, s],
                     kind="mix-weights")]

    def vjp(self, site: Site, g: mx.M):
        return [(site.ins[0], mx.sdot(g, site.x(1), tb=True), None),
                (site.ins[1], mx.sdot(site.x(0), g, ta=True), None)]

    def closed_form(self, site: Site) -> tuple[str, str] | None:
        """Attention's backward pass as people write it (shown once a layer: at its first head), and its proof."""
        if not self.first:
            return None
        V, P = site.ins
        layer, head = site.out.layer, site.out.head
        Q, K, S = (naming.Key(b, layer, head) for b in "QKS")
        d, T = site.in_shapes[0]
        dO, dP, dS = naming.grad(site.out), naming.grad(P), naming.grad(S)
        each = f" (each of the {self.heads} heads, d = {d})" if self.heads > 1 else f" (d = {d})"
        text = (f"{S} = {K}ᵀ·{Q}/√d, {P} = softmax over the keys (each column), {site.out} = {V}·{P}{each};  "
                f"dC_d{V} = {dO}·{P}ᵀ, {dP} = {V}ᵀ·{dO}, {dS} = {P} ⊙ ({dP} − Σ_keys({P} ⊙ {dP}))"
                + (" (0 where a key comes after its query: the mask's zeros)" if self.causal else "")
                + f", dC_d{Q} = {K}·{dS}/√d, dC_d{K} = {Q}·{dS}ᵀ/√d")
        size = min(T, 3)
        ok = vjp_holds(size, 2, self.causal)
        proof = (f"proven by SymPy: its derivative of Σ G ⊙ O, written entry by entry, equals these forms for every "
                 f"entry of Q, K and V at 3 random points ({size} positions, d = 2"
                 + (", causal" if self.causal else "") + ")" if ok else
                 "NOT proven: SymPy's derivative differs (a bug: please report it)")
        return text, proof


class Concat(Layer):
    """The heads' outputs joined, rows one after another: (features, T)."""

    kind = "heads-joined"
    symbol = "O"
    name = "heads joined"

    def out_shape(self, in_shapes) -> tuple[int, ...]:
        return (sum(s[0] for s in in_shapes), in_shapes[0][1])

    def forward(self, site: Site) -> list[Step]:
        return [Step(site.out, mx.stack(*(site.x(k) for k in range(len(site.ins)))), site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        """``dO[i, t]/dO_k[j, t] = [i = j + k·d]``: each head's rows, placed."""
        i, j = sp.symbols("i j", integer=True)
        out, start = [], 0
        for key, shape in zip(site.ins, site.in_shapes):
            out.append(Step(naming.local(site.out, key), None, shape, "local",
                            scalar=sp.KroneckerDelta(i, j + start), kind="re-indexing"))
            start += shape[0]
        return out

    def vjp(self, site: Site, g: mx.M):
        out, start = [], 0
        for key, shape in zip(site.ins, site.in_shapes):
            out.append((key, mx.rows(g, start, start + shape[0]), None))
            start += shape[0]
        return out
