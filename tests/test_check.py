"""Proof: the compiled gradients against HIPS autograd and PyTorch, finite differences, and `check`."""

from __future__ import annotations

import json

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from autograd.scipy.special import erf as autograd_erf
from networks import CORPUS, draw, ids, random_corpus, torch_reference

from symbackprop import derive
from symbackprop.check import check_backprop, gradcheck

RANDOM = random_corpus(50)
EXAMPLES = "examples/textbook_backprop.py"
WRONG = "examples/wrong_backprops.py"

# Forward rules as PyTorch defines them; where selects a branch, so relu'(0) = 0, leaky_relu'(0) = 0.01.
AG_ACT = {
    "identity": lambda z: z,
    "relu": lambda z: anp.where(z > 0, z, 0.0),
    "leaky_relu": lambda z: anp.where(z > 0, z, 0.01 * z),
    "logistic": lambda z: 1 / (1 + anp.exp(-z)),
    "tanh": anp.tanh,
    "softplus": lambda z: anp.logaddexp(0.0, z),
    "gelu": lambda z: z * (1 + autograd_erf(z / np.sqrt(2))) / 2,
    "gelu_tanh": lambda z: z / 2 * (1 + anp.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z ** 3))),
}


def autograd_gradients(net, params, X, Y):
    names = list(net.shapes())

    def cost(*flat):
        p = dict(zip(names, flat))
        A, Z = X, None
        for layer, dense in enumerate(net.layers, start=1):
            Z = anp.dot(p[f"W{layer}"], A) + p[f"B{layer}"]
            if dense.activation.name == "softmax":
                E = anp.exp(Z - anp.max(Z, axis=0, keepdims=True))
                A = E / anp.sum(E, axis=0, keepdims=True)
            else:
                A = AG_ACT[dense.activation.name](Z)
        m = X.shape[1]
        if net.cost.name == "squared_error":
            return anp.sum((A - Y) ** 2) / m
        # the cross-entropies from the logits, as PyTorch computes them (log(1 - A) loses digits near A = 1)
        if net.cost.name == "binary_cross_entropy":
            return anp.sum(anp.logaddexp(0.0, Z) - Y * Z) / m
        top = anp.max(Z, axis=0, keepdims=True)
        log_softmax = Z - top - anp.log(anp.sum(anp.exp(Z - top), axis=0, keepdims=True))
        return -anp.sum(Y * log_softmax) / m

    flat = [params[k] for k in names]
    return {k: autograd.grad(cost, i)(*flat) for i, k in enumerate(names)}


def torch_gradients(net, params, X, Y):
    return torch_reference(net, params, X, Y)[1]


def assert_agree(got, want, rel=1e-10):
    for k in want:
        scale = np.maximum(np.abs(want[k]), np.abs(got[k]))
        assert np.all(np.abs(got[k] - want[k]) <= rel * scale + 1e-15), (k, got[k], want[k])


def kink_problem(net, seed):
    """Small integers and halves, so that the first hidden layer's pre-activation of sample 0 is exactly 0."""
    rng = np.random.default_rng(seed)
    params = {k: rng.integers(-3, 4, size=s).astype(float) / 2 for k, s in net.shapes().items()}
    _, X, Y = draw(net, rng, m=3)
    X = np.round(X * 4) / 4
    params["B1"][:, 0] = -(params["W1"] @ X[:, 0])
    return params, X, Y


@pytest.mark.parametrize("spec,cost", RANDOM, ids=ids(RANDOM))
def test_fifty_random_architectures_agree_with_autograd_and_torch(spec, cost):
    d = derive(spec, cost)
    f_np, f_nb = d.compile("numpy"), d.compile("numba")
    for seed in range(2):
        params, X, Y = draw(d.network, np.random.default_rng(seed), m=4)
        want = autograd_gradients(d.network, params, X, Y)
        assert_agree(f_np(params, X, Y)[1], want)
        assert_agree(f_nb(params, X, Y)[1], want)
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    assert_agree(f_np(params, X, Y)[1], torch_gradients(d.network, params, X, Y))


@pytest.mark.parametrize("spec,cost", [("2-3:relu-2:softmax", "cross_entropy"),
                                       ("3-2:leaky_relu-1:logistic", "binary_cross_entropy"),
                                       ("2-3:relu-3:relu-1:identity", "squared_error"),
                                       ("3-3:leaky_relu-2:tanh", "squared_error")])
def test_exact_kinks_take_the_left_hand_derivative_like_pytorch(spec, cost):
    d = derive(spec, cost)
    params, X, Y = kink_problem(d.network, 0)
    assert np.any(d.compile("numpy").module.forward(params, X)["Z1"][:, 0] == 0)
    want = autograd_gradients(d.network, params, X, Y)
    for backend in ("numpy", "numba"):
        assert_agree(d.compile(backend)(params, X, Y)[1], want)
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    assert_agree(d.compile("numpy")(params, X, Y)[1], torch_gradients(d.network, params, X, Y))


def test_torch_is_checked_where_installed():
    pytest.importorskip("torch", reason="PyTorch is not installed: the PyTorch cross-check is skipped")
    d = derive("3-3:relu-1:logistic")
    params, X, Y = draw(d.network, np.random.default_rng(0), m=5)
    assert_agree(d.compile("numba")(params, X, Y)[1], torch_gradients(d.network, params, X, Y))


@pytest.mark.parametrize("spec,cost", CORPUS, ids=ids())
def test_gradcheck_passes_on_the_corpus(spec, cost):
    report = gradcheck(spec, cost, seed=1)
    assert report.ok, report.to_text()
    assert report.worst_rel < 1e-3


def test_gradcheck_redraws_near_kinks_and_says_so():
    report = gradcheck("1-6:relu-6:relu-1:identity", seed=0, eps=1e-2)  # a wide margin forces redraws
    assert report.ok
    assert any("redrew" in note for note in report.notes)


def test_check_passes_the_textbook_example(run_cli):
    code, out, _ = run_cli("check", "3-3:relu-1:logistic", f"{EXAMPLES}:backprop")
    assert code == 0
    assert out.count("✓") == 4 and out.rstrip().endswith("OK: every gradient agrees")
    assert "worst relative error: " in out


@pytest.mark.parametrize("func,bad", [("missing_sigmoid_derivative", {"W1", "B1", "W2", "B2"}),
                                      ("transposed_weight_gradient", {"W1"}),
                                      ("elementwise_for_matrix_product", {"W1"})])
def test_check_flags_wrong_backprops_naming_the_parameters(run_cli, func, bad):
    code, out, _ = run_cli("check", "3-3:relu-1:logistic", f"{WRONG}:{func}", "--json")
    assert code == 1
    report = json.loads(out)
    assert {p["name"] for p in report["params"] if not p["ok"]} == bad
    if func == "elementwise_for_matrix_product":
        w1 = next(p for p in report["params"] if p["name"] == "W1")
        assert "shape (1, 3), expected (3, 3)" in w1["problem"]


def test_check_shows_the_users_value_beside_the_correct_one(run_cli):
    _, out, _ = run_cli("check", "3-3:relu-1:logistic", f"{WRONG}:transposed_weight_gradient")
    assert "✗ W1" in out and "yours " in out and ", correct " in out
    assert "FAIL: 1 of 4 parameters disagree" in out


def test_check_reports_missing_and_extra_keys():
    def partial(params, X, Y):
        return {"W1": np.zeros((3, 3)), "dC_dA1": 0}

    report = check_backprop("3-3:relu-1:logistic", partial, trials=1)
    assert not report.ok and report.extra == ["dC_dA1"]
    assert {p.name for p in report.params if p.problem and "missing" in p.problem} == {"B1", "W2", "B2"}


def test_check_accepts_cost_and_grads_like_the_compiled_callable():
    d = derive("2-3:tanh-2:softmax", "cross_entropy")
    assert check_backprop(d, d.compile("numpy")).ok


def test_check_compares_a_returned_cost_too():
    d = derive("3-3:relu-1:logistic")
    f = d.compile("numpy")

    def summed_not_mean(params, X, Y):
        cost, grads = f(params, X, Y)
        return cost * X.shape[1], grads

    report = check_backprop(d, summed_not_mean, trials=2)
    assert not report.ok
    assert [p.name for p in report.params if not p.ok] == ["cost"]
    assert "FAIL: the cost disagrees" in report.to_text()
    assert check_backprop(d, f, trials=2).ok


def test_a_pass_by_the_absolute_tolerance_says_so(run_cli):
    code, out, _ = run_cli("gradcheck", "64-64:relu-10:softmax", "--cost", "cross_entropy")
    assert code == 0
    loose = [line for line in out.splitlines()
             if line.lstrip().startswith("✓") and float(line.split("max rel err ")[1].split()[0]) > 1e-3]
    assert loose  # the case that read as a contradiction: ✓ beside a relative error of 1
    assert all("pass by the absolute tolerance 1e-05" in line for line in loose), loose


NG_STYLE = '''
import numpy as np


def backward_propagation(parameters, X, Y):
    """A deep-learning course's column code: lowercase b1, gradients named dW1/db1, Y one row of labels."""
    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
    m = X.shape[1]
    Z1 = np.dot(W1, X) + b1
    A1 = np.tanh(Z1)
    A2 = 1 / (1 + np.exp(-(np.dot(W2, A1) + b2)))
    dZ2 = A2 - Y
    dW2 = np.dot(dZ2, A1.T) / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))
    dW1 = np.dot(dZ1, X.T) / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def forgot_tanh_derivative(parameters, X, Y):
    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
    m = X.shape[1]
    A1 = np.tanh(np.dot(W1, X) + b1)
    A2 = 1 / (1 + np.exp(-(np.dot(W2, A1) + b2)))
    dZ2 = A2 - Y
    dZ1 = np.dot(W2.T, dZ2)
    return {"dW1": np.dot(dZ1, X.T) / m, "db1": np.sum(dZ1, axis=1, keepdims=True) / m,
            "dW2": np.dot(dZ2, A1.T) / m, "db2": np.sum(dZ2, axis=1, keepdims=True) / m}
'''

ROWS_STYLE = '''
import numpy as np


def loss(params, X, y):
    """A course's two-layer net over rows, with dW1 returned the wrong way round."""
    N = X.shape[0]
    h = np.maximum(0, X @ params["W1"] + params["b1"])
    scores = h @ params["W2"] + params["b2"]
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).mean()
    d = p.copy()
    d[np.arange(N), y] -= 1
    d /= N
    dh = (d @ params["W2"].T) * (h > 0)
    return loss, {"W1": (X.T @ dh).T, "b1": dh.sum(axis=0), "W2": h.T @ d, "b2": d.sum(axis=0)}


def shape_bug(params, X, y):
    """Runs under rows until its own mistake, a few lines in (W2 not transposed)."""
    N = X.shape[0]
    h = np.maximum(0, X @ params["W1"] + params["b1"])
    scores = h @ params["W2"] + params["b2"]
    d = scores.copy()
    d[np.arange(N), y] -= 1
    dh = d @ params["W2"]
    return {"W1": X.T @ dh, "b1": dh.sum(axis=0), "W2": h.T @ d, "b2": d.sum(axis=0)}
'''


def test_column_code_with_lowercase_biases_and_d_names_is_checked_as_written(run_cli, tmp_path):
    (tmp_path / "ng.py").write_text(NG_STYLE)
    code, out, err = run_cli("check", "2-4:tanh-1:logistic", f"{tmp_path / 'ng.py'}:backward_propagation",
                             "--cost", "binary_cross_entropy")
    assert code == 0, err + out
    assert "note: layout: columns" in out and "OK: every gradient agrees" in out
    code, out, _ = run_cli("check", "2-4:tanh-1:logistic", f"{tmp_path / 'ng.py'}:forgot_tanh_derivative",
                           "--cost", "binary_cross_entropy")
    assert code == 1 and "your dW1 equals the chain without dA1_dZ1" in out


def test_the_rows_report_speaks_in_the_users_names_and_shapes(run_cli, tmp_path):
    (tmp_path / "course.py").write_text(ROWS_STYLE)
    code, out, _ = run_cli("check", "4-10:relu-3:softmax", f"{tmp_path / 'course.py'}:loss")
    assert code == 1
    assert "✗ W1   has shape (10, 4), expected (4, 10)" in out  # what the function returned, and what it should
    assert "→ your dW1 is transposed: return it as (4, 10) (a column per unit)" in out
    assert "✓ b1   (10,)" in out and "✓ W2   (10, 3)" in out


def test_when_no_layout_runs_the_furthest_attempts_error_is_shown(run_cli, tmp_path):
    """Under columns the rows code fails at its first product; under rows it runs on to its own bug: that line is
    the one shown, and the other attempt's error is named."""
    (tmp_path / "course.py").write_text(ROWS_STYLE)
    code, out, err = run_cli("check", "4-10:relu-3:softmax", f"{tmp_path / 'course.py'}:shape_bug", "--cost",
                             "cross_entropy")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "course.py:27 in shape_bug: ValueError: matmul" in err
    assert "with the rows layout, which got furthest; with columns: ValueError" in err and "--layout chooses" in err


FORGOT_N = '''
import numpy as np


def grads(params, X, y):
    """Rows, no loss returned, and no /N anywhere: a sum's gradients, or a mean's with /N forgotten."""
    N = X.shape[0]
    h = np.maximum(0, X @ params["W1"] + params["b1"])
    scores = h @ params["W2"] + params["b2"]
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    d = p.copy()
    d[np.arange(N), y] -= 1
    dh = (d @ params["W2"].T) * (h > 0)
    return {"W1": X.T @ dh, "b1": dh.sum(axis=0), "W2": h.T @ d, "b2": d.sum(axis=0)}
'''


def test_gradients_m_times_with_no_loss_are_ambiguous_never_a_pass(run_cli, tmp_path):
    """Issue 20: a function that forgets /N everywhere and returns no loss is not passed as 'summed'; --sum and
    --mean settle it."""
    (tmp_path / "f.py").write_text(FORGOT_N)
    target = f"{tmp_path / 'f.py'}:grads"
    code, out, _ = run_cli("check", "4-6:relu-3:softmax", target, "--cost", "cross_entropy")
    assert code == 1 and "UNDECIDED: the gradients agree as sums; give --sum or --mean" in out
    assert "no cost is returned to tell which you meant" in out
    code, out, _ = run_cli("check", "4-6:relu-3:softmax", target, "--cost", "cross_entropy", "--sum")
    assert code == 0 and "divided by m to compare (--sum)" in out and "OK: every gradient agrees" in out
    code, out, _ = run_cli("check", "4-6:relu-3:softmax", target, "--cost", "cross_entropy", "--mean")
    assert code == 1 and "is m times the correct value (a sum over the batch, not the mean)" in out
    code, _, err = run_cli("check", "4-6:relu-3:softmax", target, "--sum", "--mean")
    assert code == 2 and "not allowed with argument" in err
