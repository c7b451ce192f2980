"""Bad input through the command line: one line naming the fault, exit 2 (3 for divergence), nothing lost."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symbackprop import derive
from symbackprop.fileio import atomic_write
from symbackprop.train import train

NET = "2-2:tanh-1:logistic"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("symbackprop: error: ")
    return lines[0]


@pytest.fixture
def csv(tmp_path):
    def make(text, name="d.csv"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return make


GOOD = "a,b,y\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(30))


@pytest.mark.parametrize("content,args,expected", [
    (None, [], "no such file"),
    ("", [], "the file is empty"),
    ("a,b,y\n", [], "has a header row but no data rows"),
    ("a,b,y\n1,2,0\n1,2\n", [], "row 3: has 2 cells but the header has 3"),
    ("a,b,y\n1,2,0\n1,x,1\n", [], "row 3, column 'b': 'x' is not a number"),
    ("a,b,y\n1,2,0\n1,nan,1\n", [], "row 3, column 'b': 'nan' is not a finite number"),
    ("a,b,y\n1,2,0\ninf,2,1\n", [], "row 3, column 'a': 'inf' is not a finite number"),
    (GOOD, ["--target", "label"], "no column named 'label' for --target"),
    ("a,b,c,y\n1,2,3,0\n1,2,3,1\n1,2,3,1\n", [], "has 3 feature columns (a, b, c) but 2-2:tanh-1:logistic takes 2"),
    ("a,b,y\n1,2,0\n1,2,2\n1,2,1\n", [], "row 3, column 'y': label 2 is not 0 or 1"),
])
def test_csv_problems(run_cli, csv, tmp_path, content, args, expected):
    path = tmp_path / "missing.csv" if content is None else csv(content)
    code, out, err = run_cli("train", path, "--net", NET, "--iterations", "10", *args)
    assert code == 2
    line = one_line(err)
    assert str(path) in line and expected in line


def test_a_folder_is_not_a_csv(run_cli, tmp_path):
    code, _, err = run_cli("train", tmp_path, "--net", NET)
    assert code == 2 and "is a folder" in one_line(err)


def test_softmax_labels(run_cli, csv):
    path = csv("a,b,y\n1,2,0\n1,2,1\n1,2,2\n1,2,3\n")
    code, _, err = run_cli("train", path, "--net", "2-3:softmax", "--cost", "cross_entropy", "--epochs", "1")
    assert code == 2 and "4 classes (0, 1, 2, 3) but the softmax layer has 3 units" in one_line(err)
    path = csv("a,b,y\n1,2,0\n1,2,1.5\n1,2,2\n", "frac.csv")
    code, _, err = run_cli("train", path, "--net", "2-3:softmax", "--cost", "cross_entropy", "--epochs", "1")
    assert code == 2 and "row 3, column 'y': class label 1.5 is not an integer" in one_line(err)


@pytest.mark.parametrize("args,expected", [
    (["--net", "2-2:tahn-1:logistic"], "unknown activation 'tahn'; did you mean 'tanh'?"),
    (["--net", "2-2:tanh-1:logistic", "--cost", "squared_eror"], "did you mean 'squared_error'?"),
    (["--net", "2-0:tanh-1:logistic"], "between 1 and"),
    (["--net", "2-2tanh-1:logistic"], "bad width '2tanh'"),
    (["--net", "2-2:softmax-1:logistic"], "softmax is for the output layer only"),
    (["--net", "2-1:logistic", "--cost", "cross_entropy"], "needs a softmax output layer"),
    (["--net", NET, "--lr", "0"], "--lr must be a positive number"),
    (["--net", NET, "--lr", "-1"], "--lr must be a positive number"),
    (["--net", NET, "--iterations", "0"], "--iterations must be at least 1"),
    (["--net", NET, "--epochs", "0"], "--epochs must be at least 1"),
    (["--net", NET, "--test-size", "1"], "--test-size must be at least 0 and below 1"),
    (["--net", NET, "--test-size", "-0.1"], "--test-size must be at least 0 and below 1"),
    (["--net", NET, "--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
])
def test_spec_and_option_problems(run_cli, csv, args, expected):
    code, _, err = run_cli("train", csv(GOOD), *args)
    assert code == 2
    assert expected in one_line(err)


def test_derive_with_a_bad_spec(run_cli):
    code, _, err = run_cli("derive", "3-3:rleu-1:logistic")
    assert code == 2 and "did you mean 'relu'?" in one_line(err)


@pytest.fixture
def model_file(tmp_path, capsys):
    X = np.random.default_rng(0).normal(size=(40, 2))
    model = train(NET, X, (X[:, 0] > 0).astype(int), iterations=200)
    path = tmp_path / "m.json"
    model.save(path)
    capsys.readouterr()  # what training said (a slow first compile) is not what the test reads
    return path


@pytest.mark.parametrize("mutate,expected", [
    (lambda d: "not json at all", "not valid JSON"),
    (lambda d: {**d, "format": "keras"}, "not a symbackprop model file"),
    (lambda d: {**d, "version": 99}, "model file version 99 is not supported"),
    (lambda d: {**d, "params": {**d["params"], "W1": [[1.0, 2.0]]}}, "parameter W1 has shape (1, 2), but"),
    (lambda d: {**d, "params": {k: v for k, v in d["params"].items() if k != "B2"}}, "parameter B2 is missing"),
    (lambda d: {**d, "spec": "2-2:tanh-1:logistc"}, "did you mean 'logistic'?"),
])
def test_model_file_problems(run_cli, model_file, mutate, expected):
    doc = mutate(json.loads(model_file.read_text()))
    model_file.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    code, _, err = run_cli("predict", model_file, "1", "2")
    assert code == 2
    line = one_line(err)
    assert str(model_file) in line and expected in line


def test_missing_model_and_wrong_value_count(run_cli, model_file, tmp_path):
    code, _, err = run_cli("predict", tmp_path / "nope.json", "1", "2")
    assert code == 2 and "no such model file" in one_line(err)
    code, _, err = run_cli("predict", model_file, "1", "2", "3")
    assert code == 2 and "expected 2 numbers, got 3" in one_line(err)
    code, _, err = run_cli("predict", model_file, "1", "two")
    assert code == 2 and "'two' is not a number" in one_line(err)


def test_a_csv_given_as_values_is_pointed_to_csv(run_cli, model_file, tmp_path):
    """``predict MODEL data.csv`` (the file where values go) said only "expected 2 numbers, got 1"."""
    data = tmp_path / "rows.csv"
    data.write_text("a,b\n1,2\n")
    code, out, err = run_cli("predict", model_file, data)
    assert code == 2 and not out
    assert f"'{data}' is a file, not 2 numbers; to predict each of its rows give --csv {data}" in one_line(err)
    code, out, _ = run_cli("predict", model_file, "--csv", data)
    assert code == 0 and out.splitlines()[0].startswith("row,prediction")


def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    path.write_text("old contents")

    def half_then_fail(self, data, *args, **kwargs):
        with open(self, "w") as fh:
            fh.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pathlib.Path.write_text", half_then_fail)
    with pytest.raises(Exception, match="No space left"):
        atomic_write(path, "new contents that are long enough to be cut in half")
    monkeypatch.undo()
    assert path.read_text() == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary file left behind


def test_interrupted_training_writes_nothing(run_cli, csv, tmp_path, monkeypatch):
    out = tmp_path / "m.json"
    out.write_text("old model")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("symbackprop.workflows.train", interrupted)
    code, _, err = run_cli("train", csv(GOOD), "--net", NET, "--out", out)
    assert code == 130
    assert "interrupted" in one_line(err.replace("symbackprop: interrupted", "symbackprop: error: interrupted"))
    assert out.read_text() == "old model"


@pytest.mark.parametrize("how", [["--iterations", "2000"], ["--epochs", "50", "--batch-size", "2"]])
def test_divergence_stops_with_exit_3_and_no_model(run_cli, csv, tmp_path, how):
    path = csv("a,b,y\n" + "".join(f"{i},{2 * i},{3 * i}\n" for i in range(1, 20)))
    out = tmp_path / "m.json"
    code, _, err = run_cli("train", path, "--net", "2-1:identity", "--lr", "1e6", *how, "--out", out)
    assert code == 3
    line = one_line(err)
    assert "training diverged" in line and "lower learning rate" in line
    assert not out.exists()


@pytest.mark.parametrize("spec,cost", [("2-3:logistic", "binary_cross_entropy"), ("2-3:softmax", "cross_entropy"),
                                       ("2-3:softplus-2:logistic", "squared_error"),
                                       ("2-3:logistic-3:softmax", "squared_error"),
                                       ("2-2:tanh-2:softplus", "squared_error")])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_stable_at_pre_activations_of_a_thousand(spec, cost, backend):
    d = derive(spec, cost)
    shapes = d.network.shapes()
    params = {k: np.zeros(s) for k, s in shapes.items()}
    params["W1"][:] = 1000.0
    params["W1"][::2] = -1000.0
    X = np.array([[1.0, -1.0], [0.0, 0.0]])
    Y = np.eye(d.network.outputs)[:, [0, 1]] if d.network.outputs > 1 else np.array([[1.0, 0.0]])
    if d.network.depth > 1:
        params["W2"][:] = 1000.0
    cost_value, grads = d.compile(backend)(params, X, Y)  # warnings are errors in this suite
    assert np.isfinite(cost_value)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_training_stays_finite_with_huge_inputs():
    X = np.array([[1000.0, -1000.0], [-1000.0, 1000.0], [500.0, 0.0], [0.0, -700.0]])
    y = np.array([1, 0, 1, 0])
    for kw in ({"iterations": 500}, {"batch_size": 2, "epochs": 20}):
        model = train("2-3:logistic-1:logistic", X, y, "binary_cross_entropy", lr=0.1, **kw)
        assert all(np.all(np.isfinite(v)) for v in model.params.values())
        assert np.all(np.isfinite(model.history["train"]))


@pytest.mark.parametrize("target,expected", [
    ("missing.py:f", "missing.py: no such file"),
    ("{bad}:f", "SyntaxError: expected ':'"),
    ("{ok}:nothere", "has no function 'nothere' (it has: backprop)"),
    ("{raises}:backprop", "in backprop: KeyError: 'W9'"),
])
def test_check_with_broken_user_code(run_cli, tmp_path, target, expected):
    (tmp_path / "bad.py").write_text("def backprop(params, X, Y)\n    return {}\n")
    (tmp_path / "ok.py").write_text("def backprop(params, X, Y):\n    return {}\n")
    (tmp_path / "raises.py").write_text("def backprop(params, X, Y):\n    return params['W9']\n")
    target = target.format(bad=tmp_path / "bad.py", ok=tmp_path / "ok.py", raises=tmp_path / "raises.py")
    code, _, err = run_cli("check", "3-3:relu-1:logistic", target)
    assert code == 2
    line = one_line(err)
    assert expected in line
    if "raises" in target:
        assert f"{tmp_path / 'raises.py'}:2" in line


def test_plot_without_matplotlib_fails_before_training(run_cli, csv, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    code, out, err = run_cli("train", csv(GOOD), "--net", NET, "--plot", tmp_path / "loss.png")
    assert code == 2 and "--plot needs matplotlib" in one_line(err)
    assert out == "" and not (tmp_path / "loss.png").exists()


def test_iterations_with_a_batch_size_is_refused(run_cli, csv):
    code, _, err = run_cli("train", csv(GOOD), "--net", NET, "--batch-size", "8", "--iterations", "100")
    assert code == 2 and "iterations are for per-sample SGD" in one_line(err)
