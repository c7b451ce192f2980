"""Hostile formulas, round three (issue 21, items 2, 5-7, 20): no built-in is replaced, nothing hangs or crashes."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import symbackprop
from symbackprop import derive, train
from symbackprop.registry import ACTIVATIONS, COSTS

BUILTINS = ["relu(z) = -z", "RELU(z) = -z", "softmax(z) = z", "sigmoid(z) = -z", "logistic(z) = z", "tanh(z) = z",
            "identity(z) = 2*z", "squared_error(a, y) = a", "cross_entropy(a, y) = a", "mse(a, y) = a",
            "layernorm(z) = z", "exp(z) = z", "pi(z) = z"]


@pytest.mark.parametrize("text", BUILTINS)
def test_a_definition_cannot_replace_a_built_in_name(run_cli, text):
    code, out, err = run_cli("derive", "2-2:relu-1:identity", "--define", text)
    assert code == 2 and not out and err.count("\n") == 1 and "built-in name" in err
    assert "dA1_dZ1 = Z1 > 0" in derive("1-1:relu-1:logistic").to_text()


def test_loading_a_poisoned_model_registers_nothing(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 2))
    symbackprop.define("flip7(z) = -z")
    model = train("2-2:flip7-1:identity", X, X[:, 0], iterations=50)
    path = tmp_path / "poison.json"
    model.save(path)
    doc = json.loads(path.read_text())
    # written by hand: a built-in name (refused) ...
    doc["definitions"], doc["spec"] = ["relu(z) = -z"], "2-2:relu-1:identity"
    path.write_text(json.dumps(doc))
    with pytest.raises(symbackprop.errors.ModelFileError, match="built-in name"):
        symbackprop.load(path)
    # ... and a new name: the model uses it, the process does not learn it
    doc["definitions"], doc["spec"] = ["mine42(z) = -z"], "2-2:mine42-1:identity"
    path.write_text(json.dumps(doc))
    loaded = symbackprop.load(path)
    assert loaded.network.layers[0].activation.name == "mine42"
    assert "mine42" not in ACTIVATIONS.aliases() and "mine42" not in COSTS.aliases()
    with pytest.raises(symbackprop.errors.SpecError, match="unknown activation 'mine42'"):
        derive("2-2:mine42-1:identity")
    assert "dA1_dZ1 = Z1 > 0" in derive("1-1:relu-1:identity").to_text()
    assert np.isfinite(loaded.predict(X[:3])).all()


HUGE = ["f(z) = z*10**10**10", "f(z) = z**10**10", "f(z) = (z+1)**100000", "f(z) = z*123456789",
        "f(z) = (1000**1000)**1000*z", "f(z) = z**-5000"]


@pytest.mark.parametrize("text", HUGE)
def test_huge_numbers_and_exponents_are_refused_at_once(run_cli, text):
    start = time.perf_counter()
    code, out, err = run_cli("derive", "1-1:f-1:identity", "--define", text)
    assert code == 2 and not out and err.count("\n") == 1 and "Traceback" not in err
    assert "too large" in err or "beyond" in err
    assert time.perf_counter() - start < 5


def test_a_model_file_carrying_a_huge_formula_is_refused(run_cli, tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 1))
    symbackprop.define("cube7(z) = z**3/10")
    path = tmp_path / "m.json"
    train("1-1:cube7-1:identity", X, X[:, 0], iterations=20, lr=0.001).save(path)
    path.write_text(path.read_text().replace("cube7(z) = z**3/10", "cube7(z) = z**10**10"))
    code, out, err = run_cli("predict", path, "1")
    assert code == 2 and not out and err.count("\n") == 1 and "too large" in err and str(path) in err


NOT_REAL = ["f(z) = z/0", "f(z) = log(0)*z", "f(z) = 0**-1*z", "f(z) = z*1e999", "f(z) = sqrt(-1)*z",
            "f(z) = z*(1e999-1e999)", "f(z) = 3", "f(z) = 0*z", "f(z) = log(z - 1000)", "c(a, y) = 0*a",
            "c(a, y) = y**2"]


@pytest.mark.parametrize("text", NOT_REAL)
def test_formulas_without_a_finite_real_value_or_dependence_are_one_line(run_cli, text):
    code, out, err = run_cli("derive", "1-1:relu-1:identity", "--define", text)
    assert code == 2 and not out and err.count("\n") == 1 and "Traceback" not in err
    assert "finite" in err or "does not depend" in err


def test_deep_formulas_are_refused_in_one_line(run_cli):
    for body in ["exp(" * 160 + "z" + ")" * 160, "z" + "**z" * 200, "-" * 100 + "z"]:
        code, out, err = run_cli("derive", "1-1:relu-1:identity", "--define", f"f(z) = {body}")
        assert code == 2 and not out and err.count("\n") == 1 and "nested more than 50" in err


def test_sympy_work_on_a_definition_is_bounded_in_time(run_cli):
    start = time.perf_counter()
    code, out, err = run_cli("derive", "1-1:relu-1:identity", "--define", "f(z) = " + "exp(" * 45 + "z" + ")" * 45)
    assert code == 2 and err.count("\n") == 1 and time.perf_counter() - start < 8


def test_caret_says_use_double_star_and_aliases_are_functions(run_cli):
    code, _, err = run_cli("derive", "1-1:relu-1:identity", "--define", "sq(z) = z^2")
    assert code == 2 and "use ** for powers" in err
    code, out, _ = run_cli("derive", "1-1:mix7-1:identity", "--define", "mix7(z) = sigmoid(z) + relu(z)")
    assert code == 0 and "dA1_dZ1" in out
    d = derive("1-1:mix7-1:identity")
    z = 0.3
    a1 = d.compile("numpy").module.forward({"W1": np.ones((1, 1)), "B1": np.zeros((1, 1)), "W2": np.ones((1, 1)),
                                           "B2": np.zeros((1, 1))}, np.array([[z]]))["A1"]
    assert a1[0, 0] == pytest.approx(1 / (1 + np.exp(-z)) + z)
