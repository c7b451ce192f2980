"""Recurrent layers unrolled through time — an Elman RNN (tanh or ReLU) and an LSTM — and backpropagation through time.

Per sample a sequence is (features, T).  ``Z = Wx·A + B`` is the input's part at every position (one product for
all positions); the recurrence ``h_t = f(z_t + Wh·h_{t−1})``, h_{−1} = 0, runs position after position (``recur``).
Backpropagation through time is its adjoint, one recurrence run backwards (``bptt``), not T copies of the layer:
``δ_t = (dC/dh_t + Whᵀ·δ_{t+1}) ⊙ f'`` (δ_T = 0), and then the dense layer's rules with δ for g: ``dC/dZ = δ``,
``dC/dWx = δ·Aᵀ``, ``dC/dB = Σ_t δ_t``, ``dC/dWh = δ·h_{t−1}ᵀ``, ``dC/dA = Wxᵀ·δ``.  An LSTM (PyTorch's gate order
i, f, g, o) keeps its state ``[h; c; i; f; g; o]`` per position and runs two recurrences backwards, for h and c.
:func:`bptt_holds` proves both against SymPy's own derivative of the unrolled definition.
"""

from __future__ import annotations

import itertools
import random
from functools import cache

import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..program import Param, Step
from .base import Layer, Site

GATES = "ifgo"  # PyTorch's order of an LSTM's gates in Wx, Wh and B
# (positions, hidden units, points) a proof takes: an LSTM's definition nests fast, so 2 positions (one step of
# each backward recurrence: 2 s) where a tanh or ReLU cell takes 3 (1.6 s)
PROOF_SIZES = {"tanh": (3, 2, 2), "relu": (3, 2, 2), "lstm": (2, 1, 1)}


def _sig(x):
    """The logistic function as (1 + tanh(x/2))/2, the same function: SymPy differentiates its nesting through
    time fast (the 1/(1 + exp(−x)) form took seconds an entry at 40-digit points)."""
    return (1 + sp.tanh(x / 2)) / 2


def _act(cell: str, x):
    return sp.tanh(x) if cell == "tanh" else sp.Max(x, 0)


def unrolled(Z: sp.Matrix, Wh: sp.Matrix, cell: str) -> tuple[list, list, list]:
    """SymPy: the definition, position after position — each position's h, c and gates (i, f, g, o) from the input
    parts ``Z`` (rows, T) and the recurrent weights ``Wh``; c and the gates are empty for a tanh or ReLU cell."""
    n = Wh.shape[1]
    h, c = sp.zeros(n, 1), sp.zeros(n, 1)
    hs, cs, gates = [], [], []
    for t in range(Z.shape[1]):
        a = Z[:, t] + Wh * h
        if cell == "lstm":
            i, f, o = (a[k * n:(k + 1) * n, 0].applyfunc(_sig) for k in (0, 1, 3))
            g = a[2 * n:3 * n, 0].applyfunc(sp.tanh)
            c = f.multiply_elementwise(c) + i.multiply_elementwise(g)
            h = o.multiply_elementwise(c.applyfunc(sp.tanh))
            cs.append(c)
            gates.append((i, f, g, o))
        else:
            h = a.applyfunc(lambda v: _act(cell, v))
        hs.append(h)
    return hs, cs, gates


def bptt_forms(G: sp.Matrix, hs, cs, gates, Wh: sp.Matrix, cell: str) -> sp.Matrix:
    """dC/dZ of ``Σ G ⊙ H`` as the layer computes it, backwards from the last position: a tanh or ReLU cell
    ``δ_t = (G_t + Whᵀ·δ_{t+1}) ⊙ f'`` (1 − h_t², or [h_t > 0]); an LSTM ``dh_t = G_t + Whᵀ·δ_{t+1}``,
    ``dc_t = dh_t ⊙ o_t ⊙ (1 − tanh²(c_t)) + dc_{t+1} ⊙ f_{t+1}``, and δ_t its gates' rows ``[dc_t ⊙ g_t ⊙ i_t(1 − i_t);
    dc_t ⊙ c_{t−1} ⊙ f_t(1 − f_t); dc_t ⊙ i_t ⊙ (1 − g_t²); dh_t ⊙ tanh(c_t) ⊙ o_t(1 − o_t)]``."""
    T, n = G.shape[1], Wh.shape[1]
    delta = sp.zeros(Wh.shape[0], 1)
    dc_next, f_next = sp.zeros(n, 1), sp.zeros(n, 1)
    cols = [None] * T
    for t in reversed(range(T)):
        dh = G[:, t] + Wh.T * delta
        h = hs[t]
        if cell == "tanh":
            delta = dh.multiply_elementwise(h.applyfunc(lambda v: 1 - v ** 2))
        elif cell == "relu":
            delta = dh.multiply_elementwise(h.applyfunc(lambda v: sp.Heaviside(v, 0)))
        else:
            i, f, g, o = gates[t]
            tc = cs[t].applyfunc(sp.tanh)
            c_prev = cs[t - 1] if t else sp.zeros(n, 1)
            dc = sp.matrix_multiply_elementwise(dh.multiply_elementwise(o), tc.applyfunc(lambda v: 1 - v ** 2)) \
                + dc_next.multiply_elementwise(f_next)
            delta = sp.Matrix.vstack(
                dc.multiply_elementwise(g).multiply_elementwise(i.applyfunc(lambda v: v * (1 - v))),
                dc.multiply_elementwise(c_prev).multiply_elementwise(f.applyfunc(lambda v: v * (1 - v))),
                dc.multiply_elementwise(i).multiply_elementwise(g.applyfunc(lambda v: 1 - v ** 2)),
                dh.multiply_elementwise(tc).multiply_elementwise(o.applyfunc(lambda v: v * (1 - v))))
            dc_next, f_next = dc, f
        cols[t] = delta
    return sp.Matrix.hstack(*cols)


@cache
def bptt_holds(cell: str, T: int = 3, n: int = 2, points: int = 2, seed: int = 0) -> bool:
    """SymPy: the derivative of ``Σ G ⊙ H`` (H unrolled by its definition from input parts Z and recurrent weights
    Wh, G an upstream (n, T)) by every entry of Z and Wh equals backpropagation through time as the layer computes
    it (:func:`bptt_forms`; dC/dWh = δ·h_{t−1}ᵀ), at ``points`` random points, to 1e-25.  At a point, each entry in
    turn is SymPy's variable and the others 40-digit numbers: its derivative is exact, and small enough to take."""
    rows = 4 * n if cell == "lstm" else n
    rng = random.Random(seed)

    def draw(r, c):
        return sp.Matrix(r, c, lambda *_: sp.Float(rng.choice([-1, 1]) * rng.randint(1, 9) / 7, 40))

    x = sp.Symbol("x")
    for _ in range(points):
        Z, Wh, G = draw(rows, T), draw(rows, n), draw(n, T)
        hs, cs, gates = unrolled(Z, Wh, cell)
        dZ = bptt_forms(G, hs, cs, gates, Wh, cell)
        dWh = dZ * sp.Matrix.hstack(sp.zeros(n, 1), *hs[:-1]).T
        for which, form in ((0, dZ), (1, dWh)):
            for r, j in itertools.product(range(form.shape[0]), range(form.shape[1])):
                M = [Z.copy(), Wh.copy()]
                value = M[which][r, j]
                M[which][r, j] = x
                h = unrolled(M[0], M[1], cell)[0]
                C = sum(G[i, t] * h[t][i, 0] for i in range(n) for t in range(T))
                if abs(sp.N(sp.diff(C, x).xreplace({x: value}) - form[r, j], 40)) > 1e-25:
                    return False
    return True


@cache
def gate_derivatives() -> dict[str, sp.Expr]:
    """An LSTM's ∂h_t/∂a_t per gate (its pre-activation a = z_t + Wh·h_{t−1}, c_{t−1} held), derived by SymPy from
    ``h = σ(a_o)·tanh(σ(a_f)·c_{t−1} + σ(a_i)·tanh(a_g))`` and written in the gates' values i, f, g, o and c."""
    a = {k: sp.Symbol(f"a_{k}") for k in GATES}
    value = {k: sp.Symbol(k) for k in GATES}
    c, c_prev, tc = sp.Symbol("c"), sp.Symbol("c_prev"), sp.Dummy("tanh_c")
    sig = {k: 1 / (1 + sp.exp(-a[k])) for k in "ifo"}
    cell = sig["f"] * c_prev + sig["i"] * sp.tanh(a["g"])
    h = sig["o"] * sp.tanh(cell)
    back = {sp.exp(-a[k]): (1 - value[k]) / value[k] for k in "ifo"}
    out = {}
    for k in GATES:
        d = sp.diff(h, a[k]).xreplace({sp.tanh(cell): tc}).xreplace({sp.tanh(a["g"]): value["g"]}).xreplace(back)
        out[k] = _one_minus(sp.simplify(d)).xreplace({tc: sp.tanh(c)})
    return out


def _one_minus(d: sp.Expr) -> sp.Expr:
    """A product's factors ``x − 1`` written ``1 − x``, as people write σ' and tanh' (their signs cancel in pairs)."""
    sign, factors = 1, []
    for f in sp.Mul.make_args(d):
        if f.is_Add and f.as_coeff_Add()[0] == -1:
            sign, f = -sign, 1 - (f + 1)
        factors.append(f)
    return sign * sp.Mul(*factors)


def cell_derivative(cell: str, out: naming.Key) -> sp.Expr:
    """∂h_t/∂a_t of a tanh or ReLU cell, by SymPy, in its output's terms: ``1 − A2[r, t]²``, ``Heaviside(A2[r, t])``."""
    u, h = sp.Symbol("u"), sp.IndexedBase(str(out))[sp.Symbol("r", integer=True), sp.Symbol("t", integer=True)]
    d = sp.diff(_act(cell, u), u)
    return d.xreplace({sp.tanh(u): h}) if cell == "tanh" else sp.Heaviside(h, 0)


class Recurrence(Layer):
    """A recurrent layer: ``Z{l} = Wx{l}·A + B{l}`` at every position, then the ``cell`` ("tanh", "relu" or "lstm")
    over the positions with ``Wh{l}``.  Its output ``A{l}`` is the hidden state at each position (hidden, T)."""

    kind = "recurrent"
    symbol = "A"

    def __init__(self, hidden: int, cell: str):
        self.hidden, self.cell = hidden, cell
        self.name = f"lstm({hidden})" if cell == "lstm" else f"rnn({hidden}, {cell})"
        self.rows = 4 * hidden if cell == "lstm" else hidden

    def width(self, n_in: int) -> int:
        return self.hidden

    def params(self, layer: int, n_in: int) -> tuple[Param, ...]:
        """``Wx{l}`` (rows, in), ``Wh{l}`` (rows, hidden) and ``B{l}`` (rows, 1): PyTorch's ``weight_ih_l0``,
        ``weight_hh_l0`` and ``bias_ih_l0 + bias_hh_l0``; rows = hidden, or 4·hidden for an LSTM's gates."""
        return (Param(naming.Key("Wx", layer), (self.rows, n_in), "glorot", matrix=True, penalised=True),
                Param(naming.Key("Wh", layer), (self.rows, self.hidden), "glorot", matrix=True, penalised=True),
                Param(naming.Key("B", layer), (self.rows, 1), "zeros"))

    def _keys(self, site: Site):
        """The input part ``Z{l}`` and (an LSTM's) state ``state{l}``: values the layer makes on the way."""
        return naming.pre(site.layer), naming.Key("state", site.layer)

    def forward(self, site: Site) -> list[Step]:
        z_key, s_key = self._keys(site)
        T = site.shape[1]
        z = mx.add(mx.dot(site.p("Wx"), site.x()), site.p("B"))
        steps = [Step(z_key, z, (self.rows, T), "forward")]
        states = mx.recur(mx.ref(z_key, (self.rows, T)), site.p("Wh"), self.cell)
        if self.cell != "lstm":
            return steps + [Step(site.out, states, site.shape, "forward")]
        return steps + [Step(s_key, states, states.shape, "forward"),
                        Step(site.out, mx.rows(mx.ref(s_key, states.shape), 0, self.hidden), site.shape, "forward")]

    def _factor(self, site: Site) -> sp.Expr:
        """∂h_t/∂a_t: the cell's derivative (tanh, ReLU), or an LSTM's per gate (a column of four)."""
        if self.cell != "lstm":
            return cell_derivative(self.cell, site.out)
        return sp.Matrix([gate_derivatives()[k] for k in GATES])

    def local(self, site: Site) -> list[Step]:
        """At one position t, h_{t−1} held (the recurrence is the closed form's): ∂h_t/∂a_t times what a_t reads."""
        r, j, t = sp.symbols("r j t", integer=True)  # row r of Z (an LSTM's: not its input gate's i)
        F = self._factor(site)
        l = site.layer
        Wx, A, H = (sp.IndexedBase(str(k)) for k in (naming.Key("Wx", l), site.ins[0], site.out))
        kind = "lstm-gates" if self.cell == "lstm" else "recurrence"
        out = [Step(naming.local(site.out, naming.Key(k, l)), None, shape, "local", scalar=F * factor, kind=kind)
               for k, shape, factor in (("Wx", (self.rows, site.in_shapes[0][0]), A[j, t]),
                                        ("Wh", (self.rows, self.hidden), H[j, t - 1]),
                                        ("B", (self.rows, 1), sp.Integer(1)))]
        if site.needs_grad[0]:
            out.insert(0, Step(naming.local(site.out, site.ins[0]), None, (self.rows, site.in_shapes[0][0]), "local",
                               scalar=F * Wx[r, j], kind=kind))
        return out

    def vjp(self, site: Site, g: mx.M):
        z_key, s_key = self._keys(site)
        T = site.shape[1]
        states = mx.ref(site.out if self.cell != "lstm" else s_key, (mx.CELLS[self.cell] * self.hidden, T))
        dz = mx.ref(naming.grad(z_key), (self.rows, T))
        return [(z_key, mx.bptt(g, states, site.p("Wh"), self.cell), None),  # first: the others read it
                (naming.Key("Wx", site.layer), mx.dot(dz, mx.T(site.x())), None),
                (naming.Key("B", site.layer), dz, None),
                (naming.Key("Wh", site.layer), mx.dot(dz, mx.T(mx.lag(site.y))), None),
                (site.ins[0], mx.dot(mx.T(site.p("Wx")), dz), None)]

    def closed_form(self, site: Site) -> tuple[str, str]:
        """Backpropagation through time as a recurrence, and what proved it."""
        l, A, H = site.layer, site.ins[0], site.out
        Z, dH, dZ = naming.pre(l), naming.grad(H), naming.grad(naming.pre(l))
        Wx, Wh, B = (naming.Key(k, l) for k in ("Wx", "Wh", "B"))
        head = f"{Z} = {Wx}·{A} + {B} at every position; "
        tail = (f"; then dC_d{Wx} = {dZ}·{A}ᵀ, dC_d{B} = Σ_t {dZ}[:, t], dC_d{Wh} = {dZ}·{H}[:, t−1]ᵀ (h_{{−1}} = 0), "
                f"dC_d{A} = {Wx}ᵀ·{dZ}")
        if self.cell == "lstm":
            text = (head + f"a_t = {Z}[:, t] + {Wh}·h_{{t−1}}, gates i, f, o = σ(a_i, a_f, a_o), g = tanh(a_g), "
                    "c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t) (h_{−1} = c_{−1} = 0);  backwards from t = T−1: "
                    f"dh_t = {dH}[:, t] + {Wh}ᵀ·{dZ}[:, t+1], "
                    "dc_t = dh_t ⊙ o_t ⊙ (1 − tanh²(c_t)) + dc_{t+1} ⊙ f_{t+1}, "
                    f"{dZ}[:, t] = [dc_t ⊙ g ⊙ i(1 − i); dc_t ⊙ c_{{t−1}} ⊙ f(1 − f); dc_t ⊙ i ⊙ (1 − g²); "
                    "dh_t ⊙ tanh(c_t) ⊙ o(1 − o)]" + tail)
        else:
            f, fprime = ("tanh", "(1 − h_t²)") if self.cell == "tanh" else ("relu", "[h_t > 0]")
            text = (head + f"h_t = {H}[:, t] = {f}({Z}[:, t] + {Wh}·h_{{t−1}}), h_{{−1}} = 0;  backwards from "
                    f"t = T−1: {dZ}[:, t] = ({dH}[:, t] + {Wh}ᵀ·{dZ}[:, t+1]) ⊙ {fprime}, {dZ}[:, T] = 0" + tail)
        T, n, points = PROOF_SIZES[self.cell]
        ok = bptt_holds(self.cell, T, n, points)
        proof = (f"proven by SymPy: its derivative of Σ G ⊙ H, H unrolled by the definition over {T} positions "
                 f"({n} hidden unit{'s' if n > 1 else ''}), by every entry of {Z} and {Wh} equals these forms at "
                 f"{points} random point{'s' if points > 1 else ''}" if ok else
                 "NOT proven: SymPy's derivative differs (a bug: please report it)")
        return text, proof
