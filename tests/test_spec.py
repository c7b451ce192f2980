"""Specs, names, activations and costs: parsing, one-line errors with suggestions, derived derivatives."""

from __future__ import annotations

import pytest
import sympy as sp

from symbackprop import ACTIVATIONS, Dense, Network, get_activation, get_cost, parse_spec
from symbackprop.activations import z
from symbackprop.errors import SpecError
from symbackprop.naming import Key, entry, grad, latex_name, symbols


def test_string_parses_into_the_python_form():
    net = parse_spec("3-3:relu-1:logistic")
    assert net == Network(inputs=3, layers=[Dense(3, "relu"), Dense(1, "logistic")], cost="squared_error")
    assert net.spec == "3-3:relu-1:logistic"
    assert net.shapes() == {"W1": (3, 3), "B1": (3, 1), "W2": (1, 3), "B2": (1, 1)}
    assert parse_spec("64-64:relu-10:softmax", "cross_entropy").n_params == 64 * 64 + 64 + 640 + 10


def test_a_bias_free_layer_is_dense_with_bias_false_and_nobias_in_the_spec():
    net = parse_spec("3-4:relu:nobias-1:logistic")
    assert net == Network(inputs=3, layers=[Dense(4, "relu", bias=False), Dense(1, "logistic")], cost="squared_error")
    assert net.spec == "3-4:relu:nobias-1:logistic" and parse_spec(net.spec) == net
    assert net.shapes() == {"W1": (4, 3), "W2": (1, 4), "B2": (1, 1)}
    assert parse_spec("3-3:layernorm:relu:dropout=0.1:residual:nobias-3:softmax").layers[0].bias is False
    with pytest.raises(SpecError, match="nobias is given twice"):
        parse_spec("3-4:relu:nobias:nobias-1:logistic")
    with pytest.raises(SpecError, match="bias must be True or False"):
        Dense(4, "relu", bias="no")


def test_sigmoid_is_an_alias_of_logistic():
    assert parse_spec("2-1:sigmoid").output.activation is get_activation("logistic")


@pytest.mark.parametrize("spec,message", [
    ("3-3:rleu-1:logistic", "unknown activation 'rleu'; did you mean 'relu'?"),
    ("3-0:relu-1:logistic", "between 1 and"),
    ("3-3:softmax-1:logistic", "softmax is for the output layer only"),
    ("3-3-1", "missing activation in layer 1"),
    ("3-:relu", "missing width in layer 1"),
    ("three-1:relu", "must start with the number of inputs"),
    ("3", "has no layers"),
    ("", "empty network spec"),
])
def test_bad_specs_name_the_bad_token(spec, message):
    with pytest.raises(SpecError, match=message.replace("?", r"\?").replace("(", r"\(")) as info:
        parse_spec(spec)
    assert "\n" not in str(info.value)


def test_cost_must_fit_the_output_layer():
    with pytest.raises(SpecError, match="cost 'cross_entropy' needs a softmax output layer"):
        parse_spec("3-2:relu-1:logistic", "cross_entropy")
    with pytest.raises(SpecError, match="did you mean 'cross_entropy'"):
        get_cost("cross_entropi")


def test_activation_derivatives_are_derived_by_sympy():
    for act in ACTIVATIONS.values():
        if act.elementwise:
            diff = (sp.diff(act.expr, z) - act.derivative).subs(z, sp.Rational(3, 7))
            assert sp.simplify(diff) == 0, act.name
    assert get_activation("relu").derivative.subs(z, 0) == 0
    assert get_activation("leaky_relu").derivative.subs(z, 0) == sp.Rational(1, 100)


def test_entry_names():
    assert entry("W1", (1, 1), 0, 0) == "W1"
    assert entry("B1", (3, 1), 2) == "B1_2"
    assert entry("W2", (1, 3), 0, 2) == "W2_0_2"
    assert entry("X", (3, 1), 0) == "X_0"
    assert latex_name(grad(Key("W", 1))) == r"\frac{\partial C}{\partial W_{1}}"
    assert entry("W1", (3, 1), 2, 0, matrix=True) == "W1_2_0"  # weights are always W{l}_{i}_{j}
    w = symbols(Key("W", 1), (2, 3), matrix=True)
    assert w[0, 2].name == "W1_0_2" and latex_name(w[0, 2].name) == "W_{1;0,2}"
