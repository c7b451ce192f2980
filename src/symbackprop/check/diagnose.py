"""Naming the mistake in a user's backprop: the classic errors, each computed and tried against their numbers.

A mistake is named only when it reproduces every number the user's function returned for that parameter, on
every draw (one sample and a batch): a local-derivative factor left out, a derivative taken at the activation
instead of the pre-activation, the activation used in place of its derivative (each a variant of the derivation's
Program, compiled like the Program itself), a transposed gradient, a sum over the batch instead of the mean, a
sign flip, a missing factor 2, a bias not summed over the batch, and one summed hidden gradient broadcast to every
row (the textbook's own bug).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .. import matexpr as mx
from .. import naming
from ..backends import loader, numpy_code
from ..naming import Deriv, grad

NO_MATCH = "no known mistake reproduces your numbers"


@dataclass
class Case:
    """One call of the user's function: its inputs, what it returned, and the derived gradients."""

    params: dict
    X: np.ndarray
    Y: np.ndarray
    got: dict
    want: dict
    plain: dict | None = None  # with --reg: the derived gradients without the penalty's derivative

    @property
    def m(self) -> int:
        return self.X.shape[1]


def _variants(derivation) -> list[tuple[str, object]]:
    """``(what the mistake is, the NumPy module of the Program with it)`` for each elementwise local derivative
    the gradients use."""
    program = derivation.program
    used = {s.key for s in program.needed([program.gradient(p).key for p in program.params])}
    out, left_out = [], []
    for k, s in enumerate(program.steps):
        if s.role != "local" or s.kind != "elementwise" or s.expr is None or s.key not in used:
            continue
        left_out.append((k, s))
        wrong = [(f"equals the chain without {s.lhs}", mx.ones(s.shape))]
        if isinstance(s.key, Deriv) and s.key.num != s.key.den and str(s.key.num) != "C":
            act, pre = s.key.num, s.key.den
            z, pre_symbol = sp.Dummy("z"), naming.symbol(pre)
            if s.scalar is not None and pre_symbol in s.scalar.free_symbols:  # f'(z) taken at A, not at Z
                at_act = mx.fn(mx.ScalarFn(s.lhs, s.scalar.xreplace({pre_symbol: z}), (z,)), mx.ref(act, s.shape))
                wrong.append((f"takes {s.lhs} at {act} instead of {pre}", at_act))
            wrong.append((f"uses the activation {act} itself in place of its derivative {s.lhs}", mx.ref(act, s.shape)))
        for what, expr in wrong:
            steps = list(program.steps)
            steps[k] = dataclasses.replace(s, expr=expr, shown=None)
            variant = dataclasses.replace(program, steps=tuple(steps))
            out.append((what, lambda v=variant: loader.from_source(numpy_code.module_source(v), "symbackprop_mistake")))
    for k, s in enumerate(program.steps):  # W · δ where Wᵀ · δ belongs (it runs only for a square W)
        if s.role == "delta" and s.expr is not None and s.key in used and _untransposed(s.expr) != s.expr:
            steps = list(program.steps)
            steps[k] = dataclasses.replace(s, expr=_untransposed(s.expr), shown=None)
            variant = dataclasses.replace(program, steps=tuple(steps))
            w = ", ".join(sorted(_transposed(s.expr)))
            out.append((f"uses {w} where {w}ᵀ belongs (in {s.lhs}; a square matrix runs either way)",
                        lambda v=variant: loader.from_source(numpy_code.module_source(v), "symbackprop_mistake")))
    for i, (k1, s1) in enumerate(left_out):  # two factors left out at once (both masks of a deeper net)
        for k2, s2 in left_out[i + 1:]:
            steps = list(program.steps)
            steps[k1] = dataclasses.replace(s1, expr=mx.ones(s1.shape), shown=None)
            steps[k2] = dataclasses.replace(s2, expr=mx.ones(s2.shape), shown=None)
            variant = dataclasses.replace(program, steps=tuple(steps))
            out.append((f"equals the chain without {s1.lhs} and without {s2.lhs}",
                        lambda v=variant: loader.from_source(numpy_code.module_source(v), "symbackprop_mistake")))
    return out


def _untransposed(e):
    """The expression with each transposed square weight ``Wᵀ`` as ``W``."""
    if not isinstance(e, mx.M):
        return e
    if e.op == "T" and e.args[0].op == "ref" and e.args[0].key.base == "W" and e.args[0].shape[0] == e.args[0].shape[1]:
        return e.args[0]
    args = tuple(_untransposed(a) for a in e.args)
    return dataclasses.replace(e, args=args) if args != e.args else e


def _transposed(e) -> set[str]:
    """The square weights that appear transposed in the expression."""
    if not isinstance(e, mx.M):
        return set()
    if e.op == "T" and e.args[0].op == "ref" and e.args[0].key.base == "W" and e.args[0].shape[0] == e.args[0].shape[1]:
        return {str(e.args[0].key)}
    return set().union(*(_transposed(a) for a in e.args))


def _close(got, want) -> bool:
    got = np.asarray(got, dtype=float)
    return got.shape == np.shape(want) and bool(np.allclose(got, want, rtol=1e-6, atol=1e-9))


def diagnose(derivation, name: str, cases: list[Case], layout=None, penalty: tuple | None = None) -> str:
    """The mistake that reproduces the user's numbers for parameter ``name`` on every case, or :data:`NO_MATCH`;
    said in the terms of the user's ``layout`` (a course's rows: ``dW1`` of shape (in, out)); ``penalty``: the
    L2 convention compared with (``--reg``; ``penalty.CONVENTIONS``)."""
    key = next(p.key for p in derivation.network.params if p.name == name)
    shape = derivation.network.shapes()[name]
    label = str(grad(key))
    shown, unit = shape, "a row per unit of the layer"
    if layout is not None and layout.name == "rows":
        label, shown, unit = f"d{layout.their_name(name)}", layout.their_shape(name, shape), "a column per unit"
    label = layout.label(name, label) if layout is not None else label
    cases = [c for c in cases if name in c.got]
    if not cases:
        return NO_MATCH
    simple = [
        (f"is transposed: return it as {shown} ({unit})", lambda c: c.want[name].T),
        ("is m times the correct value (a sum over the batch, not the mean): divide by the batch size",
         lambda c: c.want[name] * c.m),
        ("has the wrong sign (the gradient is the cost's slope; the step is minus the learning rate times it)",
         lambda c: -c.want[name]),
        ("is half the correct value: a factor 2 is missing"
         + (" (d(A − Y)²/dA = 2(A − Y); if your cost is ½‖A − Y‖², check with --cost half_squared_error)"
            if derivation.cost.name == "squared_error" else ""),
         lambda c: c.want[name] / 2),
    ]
    if shape[0] > 1:
        simple.append(("repeats one row for every unit: the chain was summed over the layer's units (a 1×1 "
                       "product) and broadcast, the textbook's own bug; multiply elementwise (⊙) unit by unit",
                       lambda c: np.ones((shape[0], 1)) @ c.want[name].sum(axis=0, keepdims=True)))
    if penalty and all(c.plain is not None and not _close(c.want[name], c.plain[name]) for c in cases) and \
            all(_close(c.got[name], c.plain[name]) for c in cases):
        theirs = layout.their_name(name) if layout is not None else name
        return (f"your {label} leaves out the regularisation's derivative: add {penalty[1].format(W=theirs)} "
                f"(the derivative of {penalty[0]})")
    for what, candidate in simple:
        if all(_close(c.got[name], candidate(c)) for c in cases):
            return f"your {label} {what}"
    if shape[1] == 1 and any(c.m > 1 for c in cases) and all(
            np.ndim(c.got[name]) == 2 and np.shape(c.got[name]) == (shape[0], c.m) for c in cases):
        per_sample = "one column per sample" if layout is None or layout.name != "rows" else "one row per sample"
        axis = "axis 1" if layout is None or layout.name != "rows" else "axis 0"
        if all(_close(np.mean(c.got[name], axis=1, keepdims=True), c.want[name]) for c in cases):
            return f"your {label} has {per_sample}: sum it over the batch ({axis}) and divide by m"
        if all(_close(np.sum(c.got[name], axis=1, keepdims=True), c.want[name]) for c in cases):
            return f"your {label} has {per_sample}, 1/m already applied (db = dZ / m): sum it over the batch ({axis})"
    if shape[0] > 1 and shape[1] > 1 and all(np.shape(c.got[name]) == (1, shape[1]) for c in cases):
        one = "one column" if layout is not None and layout.name == "rows" else "one row"
        if all(_close(c.got[name], c.want[name].sum(axis=0, keepdims=True)) for c in cases):
            return (f"your {label} is {one}, the sum of every unit's: the chain was summed over the layer's units (a "
                    "1×1 product), the textbook's own bug; multiply elementwise (⊙) unit by unit, keeping "
                    f"{'a column' if one == 'one column' else 'a row'} per unit")
        if shape[0] == shape[1] and all(_close(c.got[name], np.diag(c.want[name])[None, :]) for c in cases):
            return (f"your {label} is {one}, the diagonal of the correct gradient (unit i times input i only): an "
                    "elementwise product where the matrix product δ · inputᵀ belongs")
    if shape[1] == 1 and any(c.m > 1 for c in cases) and all(_close(c.got[name], c.want[name] / c.m) for c in cases):
        return (f"your {label} is 1/m of the correct value: the bias's gradient was divided by the batch size twice "
                "(averaged over the samples after the 1/m of the mean cost): sum it over the batch instead")
    for what, module in _variants(derivation):
        mod = module()
        try:
            with np.errstate(all="ignore"):
                matched = all(_close(c.got[name], mod.gradients(c.params, c.X, c.Y)[1][name]) for c in cases)
        except (ValueError, FloatingPointError, ZeroDivisionError):  # a variant that cannot be evaluated here
            continue
        if matched:
            return f"your {label} {what}"
    return NO_MATCH
