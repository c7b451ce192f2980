"""An attention layer's heads printed as one array (backends/heads.py), and the array printer's other savings: a
subexpression read twice, a constant moved onto a product's smaller operand, a wide product turned round."""

from __future__ import annotations

import numpy as np
import pytest

from symbackprop import derive
from symbackprop import matexpr as mx
from symbackprop.backends import heads, loader, numpy_code, program_of
from symbackprop.backends.arrays import expr_code
from symbackprop.backends.dialects import NUMPY
from symbackprop.backends.sharing import repeated
from symbackprop.draws import random_problem
from symbackprop.naming import Key

SPECS = ["6-embed7d6-pos6d6-res(layernorm+attn3)-res(layernorm+12:gelu_tanh+6:identity)-7:softmax",
         "4-embed5d4-attn2:nocausal-4:relu-5:softmax"]


def _modules(spec, monkeypatch):
    """(the NumPy module as printed, the same with every head's step printed on its own)."""
    program = program_of(derive(spec, "cross_entropy").network)
    batched = numpy_code.module_source(program)
    monkeypatch.setattr(heads, "families", lambda steps, skip=frozenset(): {})
    one_by_one = numpy_code.module_source(program)
    assert batched != one_by_one
    return (loader.from_source(batched, "test_heads"), loader.from_source(one_by_one, "test_heads")), batched


@pytest.mark.parametrize("spec", SPECS)
def test_the_heads_printed_as_one_array_give_the_same_numbers(spec, monkeypatch):
    (batched, one_by_one), source = _modules(spec, monkeypatch)
    layer = 4 if "pos" in spec else 2
    n = 3 if "attn3" in spec else 2
    assert f"S{layer}_heads = _causal(" in source or f"S{layer}_heads = _sdot(" in source
    assert ", ".join(f"P{layer}h{k}" for k in range(1, n + 1)) + f" = P{layer}_heads" in source
    assert f"O{layer} = O{layer}_heads.reshape(" in source  # the heads joined: a view, not a concatenation
    network = derive(spec, "cross_entropy").network
    params, X, Y = random_problem(network, np.random.default_rng(0), 3)
    c1, g1 = batched.gradients(params, X, Y)
    c2, g2 = one_by_one.gradients(params, X, Y)
    assert abs(c1 - c2) <= 1e-12 * abs(c2)
    for k in g2:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-10, atol=1e-13)
    f1, f2 = batched.forward(params, X), one_by_one.forward(params, X)
    assert set(f1) == set(f2)  # every head's value is still named
    for k in f2:
        np.testing.assert_allclose(f1[k], f2[k], rtol=1e-10, atol=1e-13)
    p1, p2 = ({k: v.copy() for k, v in params.items()} for _ in range(2))
    batched.sgd_step(p1, X, Y, 0.1), one_by_one.sgd_step(p2, X, Y, 0.1)
    for k in p2:
        np.testing.assert_allclose(p1[k], p2[k], rtol=1e-10, atol=1e-13)


def _head_ref(base, head, shape=(2, 3)):
    return mx.ref(Key(base, 4, head), shape)


def test_a_family_is_the_heads_steps_of_one_form_and_nothing_else():
    from symbackprop.program import Step

    q = mx.ref(Key("Q", 4), (4, 3))
    same = [Step(Key("S", 4, h), mx.sdot(mx.rows(q, 2 * (h - 1), 2 * h), _head_ref("K", h), ta=True), (3, 3),
                 "forward") for h in (1, 2)]
    fams = heads.families(same)
    assert list(fams) == [Key("S", 4)] and fams[Key("S", 4)].name == "S4_heads"
    crossed = [same[0], Step(Key("S", 4, 2), mx.sdot(mx.rows(q, 2, 4), _head_ref("K", 1), ta=True), (3, 3),
                             "forward")]
    assert heads.families(crossed) == {}  # head 2 reads head 1's keys: not one form
    shifted = [same[0], Step(Key("S", 4, 2), mx.sdot(mx.rows(q, 1, 3), _head_ref("K", 2), ta=True), (3, 3),
                             "forward")]
    assert heads.families(shifted) == {}  # head 2's rows are not its share
    assert heads.families(same[:1]) == {}  # one head: nothing to join


def test_a_subexpression_read_twice_is_found_once_and_inner_ones_first():
    g, x = mx.ref(Key("gamma", 3), (4, 1)), mx.ref(Key("dN", 3), (4, 5))
    gd = mx.had(g, x)
    once = mx.sub(mx.had(gd, x), mx.colsum(mx.had(gd, x)))
    assert repeated(once) == [mx.had(gd, x)]  # γ ⊙ δ only ever inside (γ ⊙ δ) ⊙ δ: that one alone
    twice = mx.sub(mx.had(mx.had(gd, x), x), mx.add(mx.colsum(mx.had(gd, x)), mx.colsum(gd)))
    assert repeated(twice) == [gd, mx.had(gd, x)]  # γ ⊙ δ also on its own: the inner one first
    assert repeated(mx.had(g, x)) == []


def test_a_constant_times_a_product_scales_the_smaller_operand_and_a_wide_product_turns_round():
    k, q = mx.ref(Key("K", 4), (2, 6)), mx.ref(Key("Q", 4), (2, 6))
    scaled = mx.had(mx.const(0.5), mx.sdot(k, q, ta=True))
    assert expr_code(scaled, NUMPY) == "_sdot(0.5 * K4, Q4, 6, True, False)"
    w, a = mx.ref(Key("W", 2), (3, 4)), mx.ref(Key("A", 1), (4, 1))
    assert expr_code(mx.dot(w, a), NUMPY) == "(A1.T @ W2.T).T"
    assert expr_code(mx.dot(w, mx.T(mx.ref(Key("G", 2), (1, 4)))), NUMPY) == "W2 @ G2.T"


def test_a_family_not_ready_at_its_first_head_prints_head_by_head():
    from types import SimpleNamespace

    from symbackprop.backends.arrays import lines
    from symbackprop.program import Step

    q, z = mx.ref(Key("Q", 4), (4, 3)), mx.ref(Key("Z", 9), (2, 3))
    member = lambda h: Step(Key("S", 4, h), mx.had(mx.rows(q, 2 * (h - 1), 2 * h), z), (2, 3), "forward")  # noqa: E731
    steps = [member(1), Step(Key("Z", 9), mx.ref(Key("W", 9), (2, 3)), (2, 3), "forward"), member(2)]
    printed = "\n".join(lines(SimpleNamespace(positions=0), steps))
    assert "_heads" not in printed  # head 1 reads Z9 before it is made: neither head joins
    assert "S4h1 = Q4[0:2] * Z9" in printed and "S4h2 = Q4[2:4] * Z9" in printed
    ready = [steps[1], member(1), member(2)]
    assert "S4_heads = Q4.reshape(2, 2, -1) * Z9" in "\n".join(lines(SimpleNamespace(positions=0), ready))


def test_a_column_sum_of_a_product_is_one_einsum_unless_an_operand_may_be_a_number():
    from symbackprop.naming import Deriv

    p, g = mx.ref(Key("P", 4), (3, 3)), mx.ref(Deriv(Key("C"), Key("P", 4)), (3, 3))
    assert expr_code(mx.colsum(mx.had(p, g)), NUMPY) == "np.einsum('i...,i...->...', P4, dC_dP4)[None]"
    local = mx.ref(Deriv(Key("A", 4), Key("Z", 4)), (3, 3))  # a local derivative: it may print as 1
    assert expr_code(mx.colsum(mx.had(p, local)), NUMPY).startswith("np.add.reduce(")
    a, b = np.arange(6.0).reshape(3, 2), np.ones((3, 1))  # a parameter's column against a batch: it broadcasts
    assert np.array_equal(np.einsum('i...,i...->...', a, b)[None], np.add.reduce(a * b, axis=0, keepdims=True))


def test_some_heads_of_a_layer_are_not_a_family():
    from symbackprop.program import Step

    q = mx.ref(Key("Q", 4), (6, 3))  # three heads of 2 rows; only heads 1 and 2 among the steps
    two = [Step(Key("S", 4, h), mx.sdot(mx.rows(q, 2 * (h - 1), 2 * h), _head_ref("K", h), ta=True), (3, 3),
                "forward") for h in (1, 2)]
    assert heads.families(two) == {}
