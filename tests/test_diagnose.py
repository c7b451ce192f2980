"""check names the mistake: each classic error, written the way a student writes backprop (issue 14, item 17)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symbackprop import check_backprop


def logistic(z):
    return 1 / (1 + np.exp(-z))


def student(mistake=None):
    """The textbook's 3-3-1 network (ReLU, logistic, squared error) as a student writes its backprop."""

    def backprop(p, X, Y):
        m = X.shape[1]
        Z1 = p["W1"] @ X + p["B1"]
        A1 = np.maximum(Z1, 0)
        Z2 = p["W2"] @ A1 + p["B2"]
        A2 = logistic(Z2)
        dC_dA2 = (A2 - Y) if mistake == "half" else 2 * (A2 - Y)
        dA2_dZ2 = logistic(A2) * (1 - logistic(A2)) if mistake == "at activation" else A2 * (1 - A2)
        dC_dZ2 = dC_dA2 * dA2_dZ2
        dC_dA1 = p["W2"].T @ dC_dZ2
        dA1_dZ1 = {"without": 1.0, "activation": A1}.get(mistake, (Z1 > 0) * 1.0)
        dC_dZ1 = dC_dA1 * dA1_dZ1
        scale = 1 if mistake == "sum" else m
        grads = {"W1": dC_dZ1 @ X.T / scale, "B1": dC_dZ1.sum(axis=1, keepdims=True) / scale,
                 "W2": dC_dZ2 @ A1.T / scale, "B2": dC_dZ2.sum(axis=1, keepdims=True) / scale}
        if mistake == "textbook":  # dZ2_dA1 @ dA1_dZ1 is 1x1: one number for every hidden unit
            summed = dC_dZ1.sum(axis=0, keepdims=True)
            grads["W1"] = np.ones((len(Z1), 1)) @ (summed @ X.T) / m
        if mistake == "textbook (1, 3)":  # the same, in the book's own shape: one row
            grads["W1"] = dC_dZ1.sum(axis=0, keepdims=True) @ X.T / m
        if mistake == "elementwise":  # dC_dZ1 * X where dC_dZ1 @ X.T belongs
            grads["W1"] = (dC_dZ1 * X).sum(axis=1, keepdims=True).T / m
        if mistake == "bias per sample":
            grads["B1"] = dC_dZ1
        if mistake == "bias per sample over m":  # db = dZ / m: the 1/m applied, the sum over samples forgotten
            grads["B1"] = dC_dZ1 / m
        if mistake == "bias averaged":  # np.mean(dZ, axis=1) on a dZ that already carries 1/m
            grads["B2"] = np.mean(dC_dZ2 / m, axis=1, keepdims=True)
        if mistake == "transposed":
            grads["W1"] = grads["W1"].T
        if mistake == "sign":
            grads = {k: -v for k, v in grads.items()}
        if mistake == "noise":
            grads["W1"] = grads["W1"] + 0.01 * np.cos(np.arange(grads["W1"].size)).reshape(grads["W1"].shape)
        return grads

    return backprop


CASES = [
    ("without", "3-3:relu-1:logistic", "W1", "your dC_dW1 equals the chain without dA1_dZ1"),
    ("at activation", "3-3:relu-1:logistic", "W2", "your dC_dW2 takes dA2_dZ2 at A2 instead of Z2"),
    ("activation", "3-3:relu-1:logistic", "W1", "your dC_dW1 uses the activation A1 itself in place of its "
                                                  "derivative dA1_dZ1"),
    ("transposed", "2-3:relu-1:logistic", "W1", "your dC_dW1 is transposed: return it as (3, 2)"),
    ("sum", "3-3:relu-1:logistic", "W1", "your dC_dW1 is m times the correct value (a sum over the batch, not the "
                                         "mean): divide by the batch size"),
    ("sign", "3-3:relu-1:logistic", "B2", "your dC_dB2 has the wrong sign"),
    ("half", "3-3:relu-1:logistic", "W2", "your dC_dW2 is half the correct value: a factor 2 is missing"),
    ("bias per sample", "3-3:relu-1:logistic", "B1", "your dC_dB1 has one column per sample: sum it over the batch"),
    ("bias per sample over m", "3-3:relu-1:logistic", "B1", "your dC_dB1 has one column per sample, 1/m already "
                                                             "applied (db = dZ / m): sum it over the batch (axis 1)"),
    ("bias averaged", "3-3:relu-1:logistic", "B2", "your dC_dB2 is 1/m of the correct value: the bias's gradient "
                                                   "was divided by the batch size twice"),
    ("textbook", "3-3:relu-1:logistic", "W1", "your dC_dW1 repeats one row for every unit"),
    ("textbook (1, 3)", "3-3:relu-1:logistic", "W1", "your dC_dW1 is one row, the sum of every unit's: the chain "
                                                     "was summed over the layer's units (a 1×1 product)"),
    ("elementwise", "3-3:relu-1:logistic", "W1", "your dC_dW1 is one row, the diagonal of the correct gradient"),
    ("noise", "3-3:relu-1:logistic", "W1", "no known mistake reproduces your numbers"),
]


@pytest.mark.parametrize("mistake,spec,param,named", CASES, ids=[c[0] for c in CASES])
def test_check_names_the_mistake(mistake, spec, param, named):
    report = check_backprop(spec, student(mistake))
    assert not report.ok
    result = next(p for p in report.params if p.name == param)
    assert result.diagnosis is not None and result.diagnosis.startswith(named), result.diagnosis
    assert named in report.to_text()


def test_a_correct_backprop_has_nothing_to_name():
    report = check_backprop("3-3:relu-1:logistic", student())
    assert report.ok and all(p.diagnosis is None for p in report.params)


def test_the_cli_carries_the_diagnosis_in_text_and_json(run_cli, tmp_path):
    source = tmp_path / "mine.py"
    source.write_text("import numpy as np\n\n"
                      "def backprop(p, X, Y):\n"
                      "    m = X.shape[1]\n"
                      "    Z1 = p['W1'] @ X + p['B1']\n"
                      "    A1 = np.maximum(Z1, 0)\n"
                      "    A2 = 1 / (1 + np.exp(-(p['W2'] @ A1 + p['B2'])))\n"
                      "    dZ2 = 2 * (A2 - Y) * A2 * (1 - A2)\n"
                      "    dZ1 = p['W2'].T @ dZ2  # forgot the ReLU's derivative\n"
                      "    return {'W1': dZ1 @ X.T / m, 'B1': dZ1.sum(axis=1, keepdims=True) / m,\n"
                      "            'W2': dZ2 @ A1.T / m, 'B2': dZ2.sum(axis=1, keepdims=True) / m}\n")
    code, out, _ = run_cli("check", "3-3:relu-1:logistic", f"{source}:backprop")
    assert code == 1 and "→ your dC_dW1 equals the chain without dA1_dZ1" in out
    code, out, _ = run_cli("check", "3-3:relu-1:logistic", f"{source}:backprop", "--json")
    doc = json.loads(out)
    assert code == 1 and {p["name"]: p["diagnosis"] for p in doc["params"]}["B1"] == \
        "your dC_dB1 equals the chain without dA1_dZ1"


COURSE = "examples/course_two_layer.py"


def test_course_style_code_is_checked_as_written(run_cli):
    code, out, err = run_cli("check", "4-10:relu-3:softmax", f"{COURSE}:loss")
    assert code == 0, err
    assert "note: layout: rows (samples are rows, W is (in, out), 1-D biases named b1, integer class labels" in out
    assert "detected from your function" in out and "OK: every gradient agrees" in out
    code, out, _ = run_cli("check", "4-10:relu-3:softmax", f"{COURSE}:summed_loss")
    assert code == 0 and "your cost and gradients are sums over the samples" in out
    code, out, _ = run_cli("check", "4-10:relu-3:softmax", f"{COURSE}:loss", "--layout", "rows")
    assert code == 0 and "chosen with --layout" in out
    code, out, err = run_cli("check", "4-10:relu-3:softmax", f"{COURSE}:loss", "--layout", "columns", "--cost", "ce")
    # columns read b1 as B1 too (names in any case): the course's code then fails on its own line, with rows' X
    assert code == 2 and "course_two_layer.py:11 in loss: ValueError: matmul" in err
    assert len(err.strip().splitlines()) == 1


def test_a_course_style_mistake_is_named_in_the_users_terms():
    import importlib.util

    spec = importlib.util.spec_from_file_location("course", COURSE)
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)

    def no_relu_derivative(params, X, y):
        N = X.shape[0]
        hidden = np.maximum(0, X @ params["W1"] + params["b1"])
        scores = hidden @ params["W2"] + params["b2"]
        probs = np.exp(scores - scores.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        dhidden = dscores @ params["W2"].T  # the ReLU's derivative is missing
        return {"W1": X.T @ dhidden, "b1": dhidden.sum(axis=0), "W2": hidden.T @ dscores, "b2": dscores.sum(axis=0)}

    report = check_backprop("4-10:relu-3:softmax", no_relu_derivative)
    diagnoses = {p.name: p.diagnosis for p in report.params}
    assert diagnoses["W1"] == "your dW1 equals the chain without dA1_dZ1"
    assert report.notes[0].startswith("layout: rows")
    assert check_backprop("4-10:relu-3:softmax", course.loss).ok


HALF = '''
import numpy as np


def backprop(params, X, Y):
    """The textbook's 3-3-1 network with the cost 1/2 (A - Y)^2: dC/dA = A - Y, no factor 2."""
    W1, B1, W2, B2 = params["W1"], params["B1"], params["W2"], params["B2"]
    m = X.shape[1]
    Z1 = W1 @ X + B1
    A1 = np.maximum(Z1, 0)
    A2 = 1 / (1 + np.exp(-(W2 @ A1 + B2)))
    dZ2 = (A2 - Y) * A2 * (1 - A2)
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    return {"W1": dZ1 @ X.T / m, "B1": dZ1.sum(axis=1, keepdims=True) / m,
            "W2": dZ2 @ A1.T / m, "B2": dZ2.sum(axis=1, keepdims=True) / m}
'''


def test_a_half_squared_error_backprop_passes_with_that_cost_and_the_factor_2_names_it(run_cli, tmp_path):
    """Issue 20, in part: a correct network with the ½‖a − y‖² cost passes with --cost half_squared_error; with
    squared_error, the factor-2 diagnosis says to check with it."""
    path = tmp_path / "half.py"
    path.write_text(HALF)
    code, out, err = run_cli("check", "3-3:relu-1:logistic", f"{path}:backprop", "--cost", "half_squared_error")
    assert code == 0, out + err
    code, out, _ = run_cli("check", "3-3:relu-1:logistic", f"{path}:backprop")
    assert code != 0 and "a factor 2 is missing" in out and "--cost half_squared_error" in out


def test_two_masks_forgotten_at_once_are_named_together():
    """A deeper net whose student left out both ReLU derivatives: no single mistake reproduces dW1; the pair does."""

    def backprop(p, X, Y):
        m = X.shape[1]
        A1 = np.maximum(p["W1"] @ X + p["B1"], 0)
        A2 = np.maximum(p["W2"] @ A1 + p["B2"], 0)
        A3 = logistic(p["W3"] @ A2 + p["B3"])
        dZ3 = 2 * (A3 - Y) * A3 * (1 - A3)
        dZ2 = p["W3"].T @ dZ3  # the ReLU masks forgotten here
        dZ1 = p["W2"].T @ dZ2  # and here
        return {"W1": dZ1 @ X.T / m, "B1": dZ1.sum(axis=1, keepdims=True) / m, "W2": dZ2 @ A1.T / m,
                "B2": dZ2.sum(axis=1, keepdims=True) / m, "W3": dZ3 @ A2.T / m,
                "B3": dZ3.sum(axis=1, keepdims=True) / m}

    report = check_backprop("3-4:relu-4:relu-1:logistic", backprop)
    named = {p.name: p.diagnosis for p in report.params}
    assert named["W1"] == "your dC_dW1 equals the chain without dA2_dZ2 and without dA1_dZ1"
    assert named["W2"] == "your dC_dW2 equals the chain without dA2_dZ2" and named["W3"] is None


def test_w_used_where_its_transpose_belongs_is_named_when_w_is_square():
    def backprop(p, X, Y):
        m = X.shape[1]
        Z1 = p["W1"] @ X + p["B1"]
        A1 = np.maximum(Z1, 0)
        Z2 = p["W2"] @ A1 + p["B2"]
        A2 = np.maximum(Z2, 0)
        A3 = logistic(p["W3"] @ A2 + p["B3"])
        dZ3 = 2 * (A3 - Y) * A3 * (1 - A3)
        dZ2 = (p["W3"].T @ dZ3) * (Z2 > 0)
        dZ1 = (p["W2"] @ dZ2) * (Z1 > 0)  # W2 where W2.T belongs: it runs, W2 being 4 x 4
        return {"W1": dZ1 @ X.T / m, "B1": dZ1.sum(axis=1, keepdims=True) / m, "W2": dZ2 @ A1.T / m,
                "B2": dZ2.sum(axis=1, keepdims=True) / m, "W3": dZ3 @ A2.T / m,
                "B3": dZ3.sum(axis=1, keepdims=True) / m}

    report = check_backprop("3-4:relu-4:relu-1:logistic", backprop)
    named = {p.name: p.diagnosis for p in report.params}
    assert named["W1"] == "your dC_dW1 uses W2 where W2ᵀ belongs (in dC_dA1; a square matrix runs either way)"
    assert named["B1"].startswith("your dC_dB1 uses W2 where W2ᵀ belongs") and named["W2"] is None
