"""``symbackprop evaluate`` (issue 22, item 1 in part): metrics on a labelled file, equal to scikit-learn's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symbackprop import train
from symbackprop.evaluate import evaluate

metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed (the test extra has it)")


def _csv(path, X, y, names=None):
    names = names or [f"x{k}" for k in range(X.shape[1])]
    path.write_text(",".join([*names, "label"]) + "\n" + "\n".join(",".join([*map(repr, map(float, row)), str(t)])
                                                                   for row, t in zip(X, y)) + "\n")
    return path


@pytest.mark.parametrize("kind", ["multiclass", "binary text labels"])
def test_classifier_metrics_equal_scikit_learns(run_cli, tmp_path, kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    if kind == "multiclass":
        y = np.digitize(X[:, 0] + 0.5 * rng.normal(size=150), [-0.5, 0.5])  # 0, 1, 2, with mistakes to make
        spec = "3-4:tanh-3:softmax"
    else:
        y = np.where(X[:, 0] + X[:, 1] + 0.7 * rng.normal(size=150) > 0, "dark", "light")
        spec = "3-4:tanh-1:logistic"
    model = train(spec, X[:100], y[:100], batch_size=10, epochs=30, lr=0.1)
    model.save(tmp_path / "m.json")
    code, out, err = run_cli("evaluate", tmp_path / "m.json", _csv(tmp_path / "test.csv", X[100:], y[100:]),
                             "--target", "label", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    truth = y[100:]
    labels = sorted(set(y[:100].tolist()))
    proba = model.predict_proba(X[100:])
    proba = np.column_stack([1 - proba[:, 0], proba[:, 0]]) if kind != "multiclass" else proba
    pred = model.predict(X[100:])
    assert doc["metrics"]["accuracy"] == pytest.approx(metrics.accuracy_score(truth, pred), abs=1e-12)
    assert doc["metrics"]["cross_entropy"] == pytest.approx(metrics.log_loss(truth, proba, labels=labels), rel=1e-9)
    p, r, f, s = metrics.precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
    np.testing.assert_allclose([c["precision"] for c in doc["per_class"]], p, atol=1e-12)
    np.testing.assert_allclose([c["recall"] for c in doc["per_class"]], r, atol=1e-12)
    np.testing.assert_allclose([c["f1"] for c in doc["per_class"]], f, atol=1e-12)
    assert [c["support"] for c in doc["per_class"]] == s.tolist()
    assert doc["confusion"] == metrics.confusion_matrix(truth, pred, labels=labels).tolist()
    assert doc["classes"] == labels
    code, out, _ = run_cli("evaluate", tmp_path / "m.json", tmp_path / "test.csv", "--target", "label")
    assert code == 0 and "confusion matrix" in out and "accuracy:" in out


def test_regression_metrics_equal_scikit_learns(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 2))
    y = 3 * X[:, 0] - X[:, 1] + 10 + 0.3 * rng.normal(size=120)
    model = train("2-6:tanh-1:identity", X[:80], y[:80], batch_size=8, epochs=40, lr=0.05)
    result = evaluate(model, X[80:], y[80:])
    pred = model.predict(X[80:])
    assert result.metrics["r2"] == pytest.approx(metrics.r2_score(y[80:], pred), abs=1e-12)
    assert result.metrics["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(y[80:], pred)), abs=1e-12)
    assert result.metrics["mae"] == pytest.approx(metrics.mean_absolute_error(y[80:], pred), abs=1e-12)
    assert "r2:" in result.to_text() and result.to_csv().startswith("metric,class,value\nr2,,")


def test_a_label_the_model_never_saw_is_one_line(run_cli, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 2))
    train("2-3:tanh-1:logistic", X, (X[:, 0] > 0).astype(int), iterations=200).save(tmp_path / "m.json")
    csv = _csv(tmp_path / "t.csv", X[:3], [0, 1, 7], names=["x0", "x1"])
    code, out, err = run_cli("evaluate", tmp_path / "m.json", csv, "--target", "label")
    assert code == 2 and not out and err.count("\n") == 1 and "t.csv, row 4, column 'label': label 7" in err


def test_train_tests_on_a_given_file_instead_of_a_split(run_cli, tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 2))
    y = (X[:, 0] > 0).astype(int)
    train_csv, test_csv = _csv(tmp_path / "train.csv", X[:60], y[:60]), _csv(tmp_path / "test.csv", X[60:], y[60:])
    code, out, err = run_cli("train", train_csv, "--net", "2-3:tanh-1:logistic", "--batch-size", "10", "--epochs",
                             "20", "--lr", "0.3", "--test", test_csv, "--out", tmp_path / "m.json")
    assert code == 0, err
    assert f"on 60 rows of {train_csv}, tested on 30 rows of {test_csv}" in out
    code, evaluated, _ = run_cli("evaluate", tmp_path / "m.json", test_csv, "--format", "json")
    test_accuracy = float(out.strip().splitlines()[-1].split(":")[1])
    assert json.loads(evaluated)["metrics"]["accuracy"] == pytest.approx(test_accuracy, abs=1e-4)
    code, _, err = run_cli("train", train_csv, "--net", "2-1:logistic", "--test", test_csv, "--test-size", "0.2")
    assert code == 2 and "give one" in err
    _csv(tmp_path / "bad.csv", X[60:63], [0, 1, 5])
    code, _, err = run_cli("train", train_csv, "--net", "2-1:logistic", "--test", tmp_path / "bad.csv")
    assert code == 2 and "bad.csv, row 4" in err
