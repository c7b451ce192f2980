"""Derivation: the reference's eight lines, per-entry gradients against sympy.diff, matrix form, kinks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy as sp
from networks import CORPUS, derived_gradients, draw, ids

from symbackprop import derive
from symbackprop.errors import SpecError
from symbackprop.naming import symbols

REFERENCE_LINES = [
    "dC_dA2 = 2*A2 - 2*Y",
    "dA2_dZ2 = exp(-Z2)/(1 + exp(-Z2))**2",
    "dZ2_dA1 = W2",
    "dZ2_dW2 = A1",
    "dZ2_dB2 = 1",
    "dA1_dZ1 = Z1 > 0",
    "dZ1_dW1 = X",
    "dZ1_dB1 = 1",
]

# Written here from the textbook definitions, independently of symbackprop's activation objects.
SYMPY_ACT = {
    "identity": lambda v: v,
    "relu": lambda v: sp.Max(v, 0),
    "leaky_relu": lambda v: sp.Max(v, v / 100),
    "logistic": lambda v: 1 / (1 + sp.exp(-v)),
    "sigmoid": lambda v: 1 / (1 + sp.exp(-v)),
    "tanh": sp.tanh,
    "softplus": lambda v: sp.log(1 + sp.exp(v)),
    "gelu": lambda v: v * (1 + sp.erf(v / sp.sqrt(2))) / 2,
    "gelu_tanh": lambda v: v / 2 * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (v + sp.Float("0.044715", 30) * v ** 3))),
}
SYMPY_COST = {
    "squared_error": lambda A, Y: sum((a - y) ** 2 for a, y in zip(A, Y)),
    "binary_cross_entropy": lambda A, Y: -sum(y * sp.log(a) + (1 - y) * sp.log(1 - a) for a, y in zip(A, Y)),
    "cross_entropy": lambda A, Y: -sum(y * sp.log(a) for a, y in zip(A, Y)),
    "multiclass_hinge": lambda A, Y: sum((1 - y) * sp.Max(0, a - sum(u * v for u, v in zip(Y, A)) + 1)
                                         for a, y in zip(A, Y)),
}


def substituted_cost(network):
    """The per-sample cost in X, Y and parameter entries only, built straight from the definitions."""
    A = symbols("X", (network.inputs, 1))
    for layer, dense in enumerate(network.layers, start=1):
        W = symbols(f"W{layer}", network.shapes()[f"W{layer}"], matrix=True)
        Z = W * A + (symbols(f"B{layer}", (dense.width, 1)) if dense.bias else sp.zeros(dense.width, 1))
        if dense.activation.name == "softmax":
            s = sum(sp.exp(v) for v in Z)
            A = sp.Matrix([sp.exp(v) / s for v in Z])
        else:
            A = Z.applyfunc(SYMPY_ACT[dense.activation.name])
    return SYMPY_COST[network.cost.name](list(A), list(symbols("Y", (network.outputs, 1))))


def values(network, params, x, y):
    """Numeric values of every named symbol for one sample, by a plain NumPy forward pass."""
    vals = {}

    def put(name, arr):
        for s, v in zip(symbols(name, arr.shape, matrix=name.startswith("W")), arr.flatten()):
            vals[s] = sp.Float(float(v), 30)

    put("X", x)
    put("Y", y)
    for k, v in params.items():
        put(k, v)
    A = x
    for layer, dense in enumerate(network.layers, start=1):
        Z = params[f"W{layer}"] @ A + (params[f"B{layer}"] if dense.bias else 0)
        act = dense.activation.name
        if act == "softmax":
            A = np.exp(Z) / np.exp(Z).sum()
        else:
            A = {"identity": lambda v: v, "relu": lambda v: np.maximum(v, 0),
                 "leaky_relu": lambda v: np.maximum(v, v / 100), "logistic": lambda v: 1 / (1 + np.exp(-v)),
                 "tanh": np.tanh, "softplus": lambda v: np.log1p(np.exp(v)),
                 "gelu": lambda v: v * (1 + np.vectorize(math.erf)(v / math.sqrt(2))) / 2,
                 "gelu_tanh": lambda v: v / 2 * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))}[act](Z)
        put(f"Z{layer}", Z)
        put(f"A{layer}", A)
    if network.cost.name == "multiclass_hinge":  # the true class's score, a value of the cost's own
        put(f"Q{len(network.layers)}", y.T @ A)
    return vals


def close(a, b, rel=1e-12):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-14


def test_reference_eight_lines_exactly(run_cli):
    code, out, _ = run_cli("derive")
    assert code == 0
    lines = out.splitlines()
    assert lines[:8] == REFERENCE_LINES
    assert lines[8] == "dC_dW2 = dC_dA2 * dA2_dZ2 * dZ2_dW2 = A1*(2*A2 - 2*Y)*exp(-Z2)/(1 + exp(-Z2))**2"
    assert lines[10].startswith("dC_dW1 = dC_dA2 * dA2_dZ2 * dZ2_dA1 * dA1_dZ1 * dZ1_dW1 = ")
    assert len(lines) == 12


def test_matches_the_reference_computation_redone_with_sympy(run_cli):
    """The reference script's computation, redone here from the textbook's definitions (the script itself lives
    outside the repository): SymPy's diff of each definition, the ReLU slope as the relation Z1 > 0, printed as
    its print does (less the second space)."""
    W1, W2, B1, B2, A1, A2, Z1, Z2, X, Y = sp.symbols("W1 W2 B1 B2 A1 A2 Z1 Z2 X Y")
    z2, z1 = A1 * W2 + B2, X * W1 + B1
    ref = [("dC_dA2", sp.diff((A2 - Y) ** 2, A2)), ("dA2_dZ2", sp.diff(1 / (1 + sp.exp(-Z2)), Z2)),
           ("dZ2_dA1", sp.diff(z2, A1)), ("dZ2_dW2", sp.diff(z2, W2)), ("dZ2_dB2", sp.diff(z2, B2)),
           ("dA1_dZ1", Z1 > 0), ("dZ1_dW1", sp.diff(z1, W1)), ("dZ1_dB1", sp.diff(z1, B1))]
    _, out, _ = run_cli("derive")
    assert out.splitlines()[:8] == [f"{name} = {expr}" for name, expr in ref] == REFERENCE_LINES


@pytest.mark.parametrize("spec,cost", CORPUS, ids=ids())
def test_per_entry_gradients_equal_sympy_diff_of_substituted_cost(spec, cost):
    d = derive(spec, cost)
    net = d.network
    total = substituted_cost(net)
    ours = d.entries.gradients
    theirs = {name: sp.diff(total, sp.Symbol(name, real=True)) for name in ours}  # once, then at 5 points
    rng = np.random.default_rng(7)
    for _ in range(5):
        params, X, Y = draw(net, rng, m=1)
        vals = values(net, params, X, Y)
        for name, expr in ours.items():
            want = float(theirs[name].xreplace(vals))
            got = float(expr.xreplace(vals))
            assert close(got, want), (name, got, want)


@pytest.mark.parametrize("spec", ["1-1:relu-1:logistic", "1-1:tanh", "2-1:identity", "1-1:logistic-1:identity",
                                  "1-1:softplus"])
def test_symbolically_equal_where_simplify_decides(spec):
    d = derive(spec)
    total = substituted_cost(d.network)
    for name, expr in d.expanded().items():
        want = sp.diff(total, sp.Symbol(name, real=True))
        # sympy.diff gives Heaviside(z) (H(0) = 1/2); away from the kink both are the same function.
        diff = (expr.replace(sp.Heaviside, lambda *args: sp.Heaviside(args[0])) - want).rewrite(sp.exp)
        assert sp.simplify(diff) == 0, name


@pytest.mark.parametrize("spec,cost", CORPUS, ids=ids())
def test_matrix_form_equals_per_entry_form(spec, cost):
    d = derive(spec, cost)
    net = d.network
    params, X, Y = draw(net, np.random.default_rng(3), m=4)
    _, mat = d.compile("numpy")(params, X, Y)  # the matrix form's code
    per_sample = [values(net, params, X[:, [k]], Y[:, [k]]) for k in range(4)]
    for name, expr in d.entries.gradients.items():
        p, *idx = name.split("_")
        i, j = (int(idx[0]), int(idx[1]) if len(idx) > 1 else 0) if idx else (0, 0)
        want = sum(float(expr.xreplace(v)) for v in per_sample) / 4
        assert close(mat[p][i, j], want, 1e-10), name


def test_relu_derivative_is_zero_at_the_kink():
    d = derive("1-1:relu-1:identity")
    assert d.local["dA1_dZ1"].expr == sp.Heaviside(sp.Symbol("Z1", real=True), 0)
    # W1*X + B1 = 0 exactly: the kink
    params = {"W1": np.array([[2.0]]), "B1": np.array([[-1.0]]), "W2": np.array([[3.0]]), "B2": np.array([[0.5]])}
    X, Y = np.array([[0.5]]), np.array([[1.0]])
    for grads in (derived_gradients(d, params, X, Y)[1], d.compile("numpy")(params, X, Y)[1],
                  d.compile("numba")(params, X, Y)[1]):
        assert grads["W1"][0, 0] == 0.0 and grads["B1"][0, 0] == 0.0


def test_leaky_relu_takes_its_slope_at_the_kink():
    d = derive("1-1:leaky_relu-1:identity")
    params = {"W1": np.array([[2.0]]), "B1": np.array([[-1.0]]), "W2": np.array([[3.0]]), "B2": np.array([[0.5]])}
    X, Y = np.array([[0.5]]), np.array([[1.0]])
    # C = (A2 - Y)^2, A2 = 3*0 + 0.5: dC/dB1 = 2*(0.5 - 1) * 3 * 0.01
    for grads in (derived_gradients(d, params, X, Y)[1], d.compile("numpy")(params, X, Y)[1],
                  d.compile("numba")(params, X, Y)[1]):
        assert grads["B1"][0, 0] == pytest.approx(-0.03, rel=1e-12)


def test_softmax_cross_entropy_collapses_to_a_minus_y():
    d = derive("3-2:tanh-3:softmax", "cross_entropy")
    assert str(d.combined) == "A2 - Y"
    assert "dC_dZ2 = dC_dA2 * dA2_dZ2 = A2 - Y" in d.to_text()
    assert str(d.local["dA2_dZ2"].expr) == "A2_i*(-A2_j + KroneckerDelta(i, j))"


def test_output_forms():
    assert str(derive("1-1:logistic").output_forms["dA1_dZ1"]) == "A1*(1 - A1)"
    assert str(derive("1-1:tanh").output_forms["dA1_dZ1"]) == "1 - A1**2"
    assert "dA1_dZ1" not in derive("1-1:relu").output_forms


def test_wide_network_derives_in_matrix_form_only():
    d = derive("784-128:relu-10:softmax", "cross_entropy")
    assert [s.lhs for s in d.steps][:3] == ["dC_dZ2", "dC_dW2", "dC_dB2"]
    assert d.chains["W1"].shape == (128, 784)
    assert "entries" not in d.__dict__  # nothing was expanded per entry
    with pytest.raises(SpecError, match="matrix form"):
        d.expanded()


def test_matrix_form_text_has_transposes_hadamard_and_shapes():
    text = derive("3-3:relu-1:logistic").to_text()
    assert "dC_dA1 = W2ᵀ · dC_dZ2   (3×1)" in text
    assert "dC_dZ1 = dC_dA1 ⊙ dA1_dZ1   (3×1)" in text
    assert "dC_dW1 = ((W2ᵀ · (dC_dA2 ⊙ dA2_dZ2)) ⊙ dA1_dZ1) · Xᵀ   (3×3)" in text


def test_expanded_with_cse_rebuilds_the_same_expressions():
    d = derive("2-2:tanh-1:logistic")
    plain = d.expanded()
    reps, reduced = d.expanded(cse=True)
    for name, expr in reduced.items():
        rebuilt = expr
        for sym, sub in reversed(reps):
            rebuilt = rebuilt.xreplace({sym: sub})
        assert sp.simplify(rebuilt - plain[name]) == 0


@pytest.mark.parametrize("spec,cost", [("1-1:relu-1:logistic", "squared_error"),
                                       ("2-3:tanh-3:softmax", "cross_entropy"),
                                       ("2-2:leaky_relu-1:logistic", "binary_cross_entropy")])
def test_json_expressions_parse_back_with_sympify(run_cli, spec, cost):
    import json

    code, out, _ = run_cli("derive", spec, "--cost", cost, "--format", "json", "--expanded")
    assert code == 0
    doc = json.loads(out)
    assert doc["spec"] == spec and doc["cost"] == cost
    for section in ("local", "gradients", "expanded", "output_forms"):
        for name, text in doc[section].items():
            assert isinstance(sp.sympify(text), sp.Basic), (section, name)
    if spec.startswith("1-1"):
        assert doc["local"]["dA1_dZ1"] == "Heaviside(Z1, 0)"
        assert set(doc["gradients"]) == {"W1", "B1", "W2", "B2"}
        ours = sp.sympify(doc["expanded"]["W1"])
        assert ours.free_symbols == {sp.Symbol(n) for n in ("X", "Y", "W1", "B1", "W2", "B2")}


def test_latex_and_markdown_formats(run_cli):
    code, out, _ = run_cli("derive", "--format", "latex")
    assert code == 0 and out.startswith("\\begin{align}") and out.rstrip().endswith("\\end{align}")
    assert r"\frac{\partial A_{1}}{\partial Z_{1}} &= \left[Z_{1} > 0\right]" in out
    code, out, _ = run_cli("derive", "3-3:relu-1:logistic", "--format", "markdown", "--entries")
    assert code == 0 and out.count("$$") % 2 == 0 and "## Matrix form" in out and "## Per-entry gradients" in out


def test_cse_form_from_the_command_line(run_cli):
    code, out, _ = run_cli("derive", "--cse")
    assert code == 0
    lines = out.splitlines()
    start = lines.index("# Fully expanded after common-subexpression elimination, one sample.")
    assert lines[start + 1].startswith("x0 = ") and any(line.startswith("dC_dW1 = ") for line in lines[start:])


def test_cse_and_entries_follow_the_format_and_json_expressions_parse(run_cli):
    code, out, _ = run_cli("derive", "2-2:relu-1:logistic", "--cse", "--format", "latex")
    assert code == 0 and out.startswith("\\begin{align}") and ("x0 &=" in out or "x_{0} &=" in out)
    assert r"\frac{\partial C}{\partial W_{1;0,0}} &=" in out
    code, out, _ = run_cli("derive", "2-2:relu-1:logistic", "--cse", "--entries", "--format", "json")
    doc = json.loads(out)
    assert doc["cse"]["replacements"][0][0] == "x0" and "W1_0_0" in doc["cse"]["gradients"]
    assert set(doc["entries"]) == {"backward", "gradients"} and "W1_0_0" in doc["entries"]["gradients"]
    for group in ("local", "output_forms", "gradients"):
        for text in doc[group].values():
            sp.sympify(text)
    for section in doc["entries"].values():
        for text in section.values():
            sp.sympify(text)
    for _, text in doc["cse"]["replacements"]:
        sp.sympify(text)
    for step in doc["matrix"].values():  # display strings for reading; the tree is the structure
        assert set(step) == {"display", "shape", "tree"} and step["tree"]["shape"] == step["shape"]
    tree = doc["matrix"]["dC_dW1"]["tree"]
    assert tree["op"] == "dot" and tree["args"][0]["name"] == "dC_dZ1" and tree["args"][1]["op"] == "T"


def test_a_softmax_output_defaults_to_cross_entropy_and_one_unit_is_refused(run_cli):
    from symbackprop import derive

    assert derive("2-3:softmax").cost.name == "cross_entropy"
    assert derive("2-3:softmax", "squared_error").cost.name == "squared_error"
    assert derive("2-1:logistic").cost.name == "squared_error"
    code, out, err = run_cli("derive", "2-3:softmax")
    assert code == 0 and "cost cross_entropy" in out.splitlines()[0]
    assert err.strip() == ("symbackprop: cost cross_entropy (the default for a softmax output; --cost chooses "
                           "another)")
    code, out, err = run_cli("derive", "2-3:softmax", "--cost", "squared_error")
    assert code == 0 and not err
    code, out, err = run_cli("derive", "2-1:softmax")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "use 1:logistic for two classes" in err


@pytest.mark.parametrize("argv", [["30-40:relu-10:logistic", "--expanded"],
                                  ["2-4:tanh-4:tanh-4:tanh-4:tanh-4:tanh-1:logistic", "--cse"]])
def test_expanded_forms_too_large_to_finish_in_30_s_are_refused_at_once(run_cli, argv):
    import time

    start = time.perf_counter()
    code, out, err = run_cli("derive", *argv)
    assert code == 2 and not out
    assert err.count("\n") == 1 and "would take more than about 30 s" in err
    assert time.perf_counter() - start < 10


def test_expanded_forms_within_the_limits_are_produced(run_cli):
    code, out, _ = run_cli("derive", "2-4:tanh-4:tanh-4:tanh-4:tanh-1:logistic", "--cse")
    assert code == 0 and "dC_dW1_3_1 = " in out


def test_the_softmax_layer_states_its_jacobian_and_vjp_and_sympy_proves_them():
    from symbackprop.layers.softmax import jacobian_form_holds

    assert jacobian_form_holds(3)
    n = 3
    zs, gs = sp.symbols(f"z0:{n}", real=True), sp.symbols(f"g0:{n}", real=True)
    total = sum(sp.exp(v) for v in zs)
    A = [sp.exp(v) / total for v in zs]
    jac = sp.Matrix(n, n, lambda i, j: sp.diff(A[i], zs[j]))
    vjp = jac.T * sp.Matrix(gs)
    stated = [A[i] * (gs[i] - sum(A[k] * gs[k] for k in range(n))) for i in range(n)]  # A ⊙ (g − Σ(A ⊙ g))
    assert all(sp.simplify(vjp[i] - stated[i]) == 0 for i in range(n))


@pytest.mark.parametrize("spec", ["2-2:softplus-1:logistic", "2-3:tanh-2:softmax", "1-1:relu-1:logistic"])
def test_json_is_self_contained_every_function_it_uses_is_defined_in_it(run_cli, spec):
    """sympify(text, locals=functions) evaluates every entry of the JSON to a number (issue 21, item 17)."""
    code, out, _ = run_cli("derive", spec, "--format", "json", "--expanded", "--cse", "--entries")
    assert code == 0
    doc = json.loads(out)
    functions = {name: sp.sympify(text) for name, text in doc["functions"].items()}
    texts = [*doc["expanded"].values(), *doc["cse"]["gradients"].values(), *doc["local"].values(),
             *(e for _, e in doc["cse"]["replacements"])]
    if "softplus" in spec:
        assert set(functions) == {"logistic", "softplus"}
    rng = np.random.default_rng(0)
    for text in texts:
        expr = sp.sympify(text, locals=functions)
        assert not expr.atoms(sp.core.function.AppliedUndef), text
        values = {s: sp.Float(rng.uniform(0.1, 0.9)) for s in expr.free_symbols}
        assert expr.xreplace(values).evalf().is_number, text
