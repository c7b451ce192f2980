"""One LSTM step as a layer (``torch.nn.LSTMCell``): its state read from its input's rows, written to its output's.

Per sample the input is ``[x; h; c]`` (in + 2·hidden rows) and the output ``[h'; c']`` (2·hidden): ``a = Wx·x +
Wh·h + B``, the gates (PyTorch's order i, f, g, o) ``i, f, o = σ(a_i, a_f, a_o)``, ``g = tanh(a_g)``, then
``c' = f ⊙ c + i ⊙ g`` and ``h' = o ⊙ tanh(c')``.  The step's backward is a course's ``lstm_step_backward``: from
dh' and dc', ``dc = dc' + dh' ⊙ o ⊙ (1 − tanh²(c'))``, ``da = [dc ⊙ g ⊙ i(1 − i); dc ⊙ c ⊙ f(1 − f); dc ⊙ i ⊙
(1 − g²); dh' ⊙ tanh(c') ⊙ o(1 − o)]``, ``dWx = da·xᵀ``, ``dWh = da·hᵀ``, ``dB = da`` and ``[dx; dh; dc] = [Wxᵀ·da;
Whᵀ·da; dc ⊙ f]``.  The code's factors are SymPy's derivatives of the step's two formulas (:data:`CELL`,
:data:`HIDDEN`); :func:`step_holds` proves the forms above against SymPy's derivative of the whole step.
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
from .recurrent import GATES, gate_derivatives

_af, _ai, _ag, _ao, _c, _cn, _dh, _dc = sp.symbols("a_f a_i a_g a_o c c' dh dc")


def sigma(x):
    """The logistic function as (1 + tanh(x/2))/2: the same function, without overflow in any printer."""
    return (1 + sp.tanh(x / 2)) / 2


CELL = sigma(_af) * _c + sigma(_ai) * sp.tanh(_ag)  # c' = f ⊙ c + i ⊙ g, in the gates' pre-activations
HIDDEN = sigma(_ao) * sp.tanh(_cn)  # h' = o ⊙ tanh(c')


def _fn(label: str, expr: sp.Expr, *pairs: tuple[sp.Symbol, mx.M]) -> mx.M:
    """``expr`` entry by entry, each of its variables the value ``pairs`` gives it (in that order; those it reads),
    shown as ``label(its variables)``: ``c'(a_f, c, a_i, a_g)``."""
    syms = tuple(v for v, _ in pairs if v in expr.free_symbols)
    name = f"{label}({', '.join(map(str, syms))})"
    return mx.fn(mx.ScalarFn(name, expr, syms), *(dict(pairs)[v] for v in syms))


class Cell(Layer):
    """One LSTM step: ``Z{l} = Wx{l}·x + Wh{l}·h + B{l}`` (the gates' pre-activations), the new cell state
    ``c{l}``, and the output ``A{l} = [h'; c']``."""

    kind = "lstm-cell"
    symbol = "A"

    def __init__(self, hidden: int):
        self.hidden = hidden
        self.name = f"lstmcell({hidden})"

    def width(self, n_in: int) -> int:
        return 2 * self.hidden

    def params(self, layer: int, n_in: int) -> tuple[Param, ...]:
        """``Wx{l}`` (4·hidden, in), ``Wh{l}`` (4·hidden, hidden), ``B{l}`` (4·hidden, 1): ``torch.nn.LSTMCell``'s
        ``weight_ih``, ``weight_hh`` and ``bias_ih + bias_hh``."""
        rows, n = 4 * self.hidden, n_in - 2 * self.hidden
        return (Param(naming.Key("Wx", layer), (rows, n), "glorot", matrix=True, penalised=True),
                Param(naming.Key("Wh", layer), (rows, self.hidden), "glorot", matrix=True, penalised=True),
                Param(naming.Key("B", layer), (rows, 1), "zeros"))

    def _parts(self, site: Site):
        """(x, h, c): the input's rows."""
        n, H = site.in_shapes[0][0] - 2 * self.hidden, self.hidden
        X = site.x()
        return mx.rows(X, 0, n), mx.rows(X, n, n + H), mx.rows(X, n + H, n + 2 * H)

    def _gates(self, site: Site) -> dict:
        """Each gate's pre-activation: rows of ``Z{l}``, in PyTorch's order i, f, g, o."""
        H = self.hidden
        z = mx.ref(naming.pre(site.layer), (4 * H, site.shape[1]))
        return {k: mx.rows(z, n * H, (n + 1) * H) for n, k in enumerate(GATES)}

    def _cell(self, site: Site) -> mx.M:
        return mx.ref(naming.Key("c", site.layer), (self.hidden, site.shape[1]))

    def forward(self, site: Site) -> list[Step]:
        x, h, c = self._parts(site)
        a = self._gates(site)
        z = mx.add(mx.dot(site.p("Wx"), x), mx.dot(site.p("Wh"), h), site.p("B"))
        c_next = _fn("c'", CELL, (_af, a["f"]), (_c, c), (_ai, a["i"]), (_ag, a["g"]))
        h_next = _fn("h'", HIDDEN, (_ao, a["o"]), (_cn, self._cell(site)))
        H, cols = self.hidden, site.shape[1]
        return [Step(naming.pre(site.layer), z, (4 * H, cols), "forward"),
                Step(naming.Key("c", site.layer), c_next, (H, cols), "forward"),
                Step(site.out, mx.stack(h_next, self._cell(site)), site.shape, "forward")]

    def local(self, site: Site) -> list[Step]:
        """∂[h'; c']/∂a (a column of four gates for h', for c') times what a reads: x, h or 1; and the state's own
        path, ∂c'/∂c = f and ∂h'/∂c = o ⊙ (1 − tanh²(c')) ⊙ f."""
        i, f, g, o, c, cp = sp.symbols("i f g o c c_prev")
        dh = [gate_derivatives()[k] for k in GATES]
        dc = [g * i * (1 - i), cp * f * (1 - f), i * (1 - g ** 2), sp.Integer(0)]
        J = sp.Matrix([dh, dc])
        r, j = sp.symbols("r j", integer=True)
        l = site.layer
        Wx, Wh, X = (sp.IndexedBase(str(k)) for k in (naming.Key("Wx", l), naming.Key("Wh", l), site.ins[0]))
        n = site.in_shapes[0][0] - 2 * self.hidden
        out = [Step(naming.local(site.out, naming.Key(k, l)), None, shape, "local", scalar=J * factor,
                    kind="lstm-cell")
               for k, shape, factor in (("Wx", (4 * self.hidden, n), X[j, 0]),
                                        ("Wh", (4 * self.hidden, self.hidden), X[n + j, 0]),
                                        ("B", (4 * self.hidden, 1), sp.Integer(1)))]
        if site.needs_grad[0]:
            state = sp.Matrix([o * (1 - sp.tanh(c) ** 2) * f, f])
            out.insert(0, Step(naming.local(site.out, site.ins[0]), None, site.in_shapes[0], "local",
                               scalar=sp.Matrix.hstack(J * Wx[r, j], J * Wh[r, j], state), kind="lstm-cell"))
        return out

    def vjp(self, site: Site, g: mx.M):
        H, cols = self.hidden, site.shape[1]
        x, h, c = self._parts(site)
        a = self._gates(site)
        gh, gc = mx.rows(g, 0, H), mx.rows(g, H, 2 * H)
        c_key, z_key = naming.Key("c", site.layer), naming.pre(site.layer)
        dc = mx.ref(naming.grad(c_key), (H, cols))
        dz = mx.ref(naming.grad(z_key), (4 * H, cols))
        c_next = self._cell(site)
        through_h = _fn("dh·∂h'/∂c'", _dh * sp.diff(HIDDEN, _cn), (_dh, gh), (_ao, a["o"]), (_cn, c_next))
        by = ((_dc, dc), (_af, a["f"]), (_c, c), (_ai, a["i"]), (_ag, a["g"]))
        gates = [_fn(f"dc·∂c'/∂a_{k}", _dc * sp.diff(CELL, v), *by) for k, v in (("i", _ai), ("f", _af), ("g", _ag))]
        gates.append(_fn("dh·∂h'/∂a_o", _dh * sp.diff(HIDDEN, _ao), (_dh, gh), (_ao, a["o"]), (_cn, c_next)))
        state = _fn("dc·∂c'/∂c", _dc * sp.diff(CELL, _c), *by)
        return [(c_key, mx.add(gc, through_h), None),  # first: what follows reads them
                (z_key, mx.stack(*gates), None),
                (naming.Key("Wx", site.layer), mx.dot(dz, mx.T(x)), None),
                (naming.Key("Wh", site.layer), mx.dot(dz, mx.T(h)), None),
                (naming.Key("B", site.layer), dz, None),
                (site.ins[0], mx.stack(mx.dot(mx.T(site.p("Wx")), dz), mx.dot(mx.T(site.p("Wh")), dz), state), None)]

    def closed_form(self, site: Site) -> tuple[str, str]:
        """The step's backward pass as a course writes it, and what proved it."""
        l, X, A = site.layer, site.ins[0], site.out
        Z, c = naming.pre(l), naming.Key("c", l)
        Wx, Wh, B = (naming.Key(k, l) for k in ("Wx", "Wh", "B"))
        dZ, dc = naming.grad(Z), naming.grad(c)
        text = (f"{X} = [x; h; c], {Z} = {Wx}·x + {Wh}·h + {B}, gates i, f, o = σ(a_i, a_f, a_o), g = tanh(a_g) "
                f"(rows of {Z} in the order i, f, g, o), {c} = f ⊙ c + i ⊙ g, h' = o ⊙ tanh({c}), {A} = [h'; {c}];  "
                f"from dC_d{A} = [dh'; dc']: {dc} = dc' + dh' ⊙ o ⊙ (1 − tanh²({c})), "
                f"{dZ} = [{dc} ⊙ g ⊙ i(1 − i); {dc} ⊙ c ⊙ f(1 − f); {dc} ⊙ i ⊙ (1 − g²); dh' ⊙ tanh({c}) ⊙ o(1 − o)], "
                f"dC_d{Wx} = {dZ}·xᵀ, dC_d{Wh} = {dZ}·hᵀ, dC_d{B} = {dZ}, "
                f"dC_d{X} = [{Wx}ᵀ·{dZ}; {Wh}ᵀ·{dZ}; {dc} ⊙ f]")
        ok = step_holds()
        proof = ("proven by SymPy: its derivative of Σ G ⊙ [h'; c'], written from the definition, by every entry of "
                 "x, h, c, Wx, Wh and B equals these forms at a random point (1 input, 2 hidden units)" if ok else
                 "NOT proven: SymPy's derivative differs (a bug: please report it)")
        return text, proof


def step(x, h, c, Wx, Wh, B):
    """SymPy: the step's (h', c', the gates i, f, g, o) from its definition."""
    H = h.shape[0]
    a = Wx * x + Wh * h + B
    i, f, o = (a[k * H:(k + 1) * H, 0].applyfunc(sigma) for k in (0, 1, 3))
    g = a[2 * H:3 * H, 0].applyfunc(sp.tanh)
    c_next = f.multiply_elementwise(c) + i.multiply_elementwise(g)
    return o.multiply_elementwise(c_next.applyfunc(sp.tanh)), c_next, (i, f, g, o)


def backward_forms(x, h, c, Wx, Wh, B, dh, dc_next) -> dict:
    """The closed forms of the module docstring, as SymPy matrices: ``{"x", "h", "c", "Wx", "Wh", "B"}``."""
    _, c_next, (i, f, g, o) = step(x, h, c, Wx, Wh, B)
    tc = c_next.applyfunc(sp.tanh)
    dc = dc_next + dh.multiply_elementwise(o).multiply_elementwise(tc.applyfunc(lambda v: 1 - v ** 2))
    da = sp.Matrix.vstack(dc.multiply_elementwise(g).multiply_elementwise(i.applyfunc(lambda v: v * (1 - v))),
                          dc.multiply_elementwise(c).multiply_elementwise(f.applyfunc(lambda v: v * (1 - v))),
                          dc.multiply_elementwise(i).multiply_elementwise(g.applyfunc(lambda v: 1 - v ** 2)),
                          dh.multiply_elementwise(tc).multiply_elementwise(o.applyfunc(lambda v: v * (1 - v))))
    return {"x": Wx.T * da, "h": Wh.T * da, "c": dc.multiply_elementwise(f), "Wx": da * x.T, "Wh": da * h.T,
            "B": da}


@cache
def step_holds(n: int = 1, H: int = 2, points: int = 1, seed: int = 0) -> bool:
    """SymPy: the derivative of ``Σ G ⊙ [h'; c']`` (the step by its definition, G = [dh; dc'] an upstream) by every
    entry of x, h, c, Wx, Wh and B equals :func:`backward_forms`, at ``points`` random points, to 1e-25.  At a
    point each entry in turn is SymPy's variable and the others 40-digit numbers."""
    rng = random.Random(seed)

    def draw(r, k):
        return sp.Matrix(r, k, lambda *_: sp.Float(rng.choice([-1, 1]) * rng.randint(1, 9) / 7, 40))

    v = sp.Symbol("v")
    shapes = {"x": (n, 1), "h": (H, 1), "c": (H, 1), "Wx": (4 * H, n), "Wh": (4 * H, H), "B": (4 * H, 1)}
    for _ in range(points):
        at = {name: draw(*shape) for name, shape in shapes.items()}
        dh, dc = draw(H, 1), draw(H, 1)
        forms = backward_forms(*at.values(), dh, dc)
        for name, (rows, cols) in shapes.items():
            for r, k in itertools.product(range(rows), range(cols)):
                args = {key: m.copy() for key, m in at.items()}
                args[name][r, k] = v
                h_next, c_next, _ = step(*args.values())
                C = sum(dh[q, 0] * h_next[q, 0] + dc[q, 0] * c_next[q, 0] for q in range(H))
                if abs(sp.N(sp.diff(C, v).xreplace({v: at[name][r, k]}) - forms[name][r, k], 40)) > 1e-25:
                    return False
    return True
