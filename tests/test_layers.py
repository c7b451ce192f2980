"""A layer is one class: a layer defined here, outside the package, works through every path."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from functools import cached_property

import numpy as np
import pytest
import sympy as sp
from test_export import CC, CFLAGS, needs_cc

import symbackprop
from symbackprop import Dense, Elementwise, Network, derive, naming
from symbackprop import matexpr as mx
from symbackprop.activations import register
from symbackprop.layers import Site
from symbackprop.program import Step
from symbackprop.render.report import render_html
from symbackprop.spec import Node


class Cubic(Elementwise):
    """``y = x + c·x³`` with one learnable ``c`` per unit (it starts at 0: the identity)."""

    name = "cubic"
    param_names = ("c",)
    param_init = {"c": "zeros"}

    def definition(self, x, c):
        return x + c * x**3


CUBIC = register(Cubic())
NET = Network(3, [Dense(4, "tanh"), Dense(3, CUBIC), Dense(1, "logistic")], "binary_cross_entropy")


def numpy_backprop(params, X, Y):
    """The network's backprop written by hand, to check against."""
    Z1 = params["W1"] @ X + params["B1"]
    A1 = np.tanh(Z1)
    Z2 = params["W2"] @ A1 + params["B2"]
    c = params["c2"]
    A2 = Z2 + c * Z2**3
    Z3 = params["W3"] @ A2 + params["B3"]
    A3 = 1 / (1 + np.exp(-Z3))
    m = X.shape[1]
    cost = np.sum(-(Y * np.log(A3) + (1 - Y) * np.log(1 - A3))) / m
    dZ3 = (A3 - Y) / m
    dA2 = params["W3"].T @ dZ3
    dZ2 = dA2 * (1 + 3 * c * Z2**2)
    dA1 = params["W2"].T @ dZ2
    dZ1 = dA1 * (1 - A1**2)
    return cost, {"W1": dZ1 @ X.T, "B1": dZ1.sum(1, keepdims=True), "W2": dZ2 @ A1.T,
                  "B2": dZ2.sum(1, keepdims=True), "c2": (dA2 * Z2**3).sum(1, keepdims=True),
                  "W3": dZ3 @ A2.T, "B3": dZ3.sum(1, keepdims=True)}


def test_derive_shows_its_local_derivatives_and_matrix_form():
    d = derive(NET)
    assert NET.shapes()["c2"] == (3, 1) and NET.spec == "3-4:tanh-3:cubic-1:logistic"
    assert str(d.local["dA2_dZ2"].expr) == "3*Z2**2*c2 + 1"
    assert str(d.local["dA2_dc2"].expr) == "Z2**3"
    text = d.to_text()
    assert "dC_dc2 = dC_dA2 ⊙ dA2_dc2   (3×1)" in text
    assert "dC_dc2 = dC_dA3 * dA3_dZ3 * dZ3_dA2 * dA2_dc2" in text


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_compiled_gradients_equal_a_hand_written_backprop(backend):
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s) for k, s in NET.shapes().items()}
    X, Y = rng.normal(size=(3, 5)), rng.integers(0, 2, size=(1, 5)).astype(float)
    cost, grads = derive(NET).compile(backend)(params, X, Y)
    want_cost, want = numpy_backprop(params, X, Y)
    assert cost == pytest.approx(want_cost, rel=1e-12)
    for k in want:
        np.testing.assert_allclose(grads[k], want[k], rtol=1e-10, atol=1e-13)


def test_gradcheck_and_check_pass():
    assert symbackprop.gradcheck(NET).ok
    assert symbackprop.check_backprop(NET, numpy_backprop).ok


def test_trains_per_sample_and_in_mini_batches_and_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    for options in ({"iterations": 20_000, "lr": 0.01}, {"batch_size": 16, "epochs": 40, "lr": 0.1}):
        model = symbackprop.train(NET, X, y, seed=0, **options)
        assert model.score(X, y)["accuracy"] > 0.9
        assert np.any(model.params["c2"] != 0)  # c learned
    model.save(tmp_path / "m.json")
    np.testing.assert_array_equal(symbackprop.load(tmp_path / "m.json").predict(X), model.predict(X))


def test_report_shows_the_layer():
    page = render_html(derive(NET))
    assert "cubic" in page and "dA2_dc2" in page


@needs_cc
def test_c_export_compiles_and_passes_its_harness(tmp_path):
    from symbackprop.export import export

    export(NET, "c", tmp_path, "cubic_net")
    subprocess.run([CC, *CFLAGS, "-o", "t", "test_cubic_net.c", "cubic_net.c", "-lm"], cwd=tmp_path, check=True)
    run = subprocess.run(["./t"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("OK"), run.stdout


class Add(symbackprop.Layer):
    """``H = A + B``: a node with two inputs (a residual connection's fan-in), written outside the package."""

    kind = "add"
    symbol = "H"
    name = "add"

    def forward(self, site):
        return [Step(site.out, mx.add(site.x(0), site.x(1)), site.shape, "forward")]

    def local(self, site):
        return [Step(naming.local(site.out, k), mx.ones(site.shape), site.shape, "local", scalar=sp.Integer(1),
                     kind="ones") for k, need in zip(site.ins, site.needs_grad) if need]

    def vjp(self, site, g):
        return [(k, g, None) for k in site.ins]


class ResidualNet(Network):
    """3 -> tanh(3) -> tanh(3), added to the first -> logistic(1): A1 reaches the cost along two paths."""

    @cached_property
    def nodes(self):
        plain = Network.nodes.func(self)
        z1, a1, z2, a2, z3, a3 = plain
        h2 = Node(Add(), Site(2, naming.Key("H", 2), (a1.site.out, a2.site.out), ((3, 1), (3, 1)), (3, 1), (),
                               (True, True)))
        z3 = Node(z3.layer, replace(z3.site, ins=(h2.site.out,)))
        return (z1, a1, z2, a2, h2, z3, a3)


def test_a_node_with_two_inputs_sums_the_gradient_of_both_paths():
    net = ResidualNet(3, [Dense(3, "tanh"), Dense(3, "tanh"), Dense(1, "logistic")], "binary_cross_entropy")
    d = derive(net)
    text = d.to_text()
    assert "dC_dA1 = dC_dH2 + W2ᵀ · dC_dZ2   (3×1)" in text  # both paths, summed
    assert symbackprop.gradcheck(net).ok
    rng = np.random.default_rng(0)
    params, X, Y = {k: rng.normal(size=s) for k, s in net.shapes().items()}, rng.normal(size=(3, 4)), \
        rng.integers(0, 2, size=(1, 4)).astype(float)
    for backend in ("numpy", "numba"):
        cost, grads = d.compile(backend)(params, X, Y)
        A1 = np.tanh(params["W1"] @ X + params["B1"])
        H2 = A1 + np.tanh(params["W2"] @ A1 + params["B2"])
        A3 = 1 / (1 + np.exp(-(params["W3"] @ H2 + params["B3"])))
        assert cost == pytest.approx(np.mean(-(Y * np.log(A3) + (1 - Y) * np.log(1 - A3))), rel=1e-12)
        dH2 = params["W3"].T @ (A3 - Y) / 4
        dZ2 = dH2 * (1 - (H2 - A1) ** 2)
        dA1 = params["W2"].T @ dZ2 + dH2
        np.testing.assert_allclose(grads["W1"], (dA1 * (1 - A1**2)) @ X.T, rtol=1e-10, atol=1e-13)
