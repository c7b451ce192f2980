"""Training: the textbook's font network, digits, seeds, models, predicting and the demo."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from symbackprop import derive
from symbackprop.backends import numpy_module, per_sample_module
from symbackprop.errors import SymbackpropError
from symbackprop.model import load
from symbackprop.train import init_params, train
from symbackprop.workflows import demo


def test_textbook_font_network_from_the_cli(run_cli, font_csv, tmp_path):
    model = tmp_path / "m.json"
    code, out, err = run_cli("train", font_csv, "--net", "3-3:relu-1:logistic", "--scale", "255", "--per-sample",
                             "--iterations", "100000", "--lr", "0.05", "--seed", "1", "--out", model)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[-2].startswith("train accuracy: ") and lines[-1].startswith("test accuracy: ")
    assert float(lines[-1].split(": ")[1]) >= 0.95
    assert run_cli("predict", model, "255", "255", "255")[1].startswith("class 1 (p=")
    assert run_cli("predict", model, "0", "0", "0")[1].startswith("class 0 (p=")
    doc = json.loads(model.read_text())
    assert doc["format"] == "symbackprop-model" and doc["scaling"] == {"kind": "scale", "factor": 255.0}
    assert doc["features"] == ["RED", "GREEN", "BLUE"] and doc["classes"] == [0, 1]


def test_digits_with_softmax_and_cross_entropy(run_cli, tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    data = np.column_stack([digits.data, digits.target])
    csv = tmp_path / "digits.csv"
    header = ",".join([f"p{i}" for i in range(64)] + ["digit"])
    np.savetxt(csv, data, delimiter=",", header=header, comments="", fmt="%g")
    code, out, err = run_cli("train", csv, "--net", "64-64:relu-10:softmax", "--cost", "cross_entropy",
                             "--scale", "16", "--batch-size", "32", "--epochs", "100", "--lr", "0.1",
                             "--out", tmp_path / "d.json")
    assert code == 0, err
    assert float(out.splitlines()[-1].split(": ")[1]) >= 0.95
    assert run_cli("predict", tmp_path / "d.json", *[str(v) for v in digits.data[0]])[1].startswith("class 0")


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_demo_reaches_its_accuracy_for_any_seed(seed):
    lines = []
    result = demo(seed=seed, say=lines.append)
    assert result.model.metrics["test accuracy"] >= 0.95
    assert any("white" in line and "dark font" in line for line in lines)
    assert any("black" in line and "light font" in line for line in lines)


def test_demo_command_on_the_textbook_csv(run_cli, font_csv):
    code, out, _ = run_cli("demo", "--data", font_csv)
    assert code == 0
    assert "dA1_dZ1 = Z1 > 0" in out
    assert float(out.splitlines()[-1].split(": ")[1]) >= 0.95


def _xor_like(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


def test_same_seed_same_result_and_seeds_differ():
    X, y = _xor_like()
    a = train("2-4:tanh-1:logistic", X, y, iterations=5000, lr=0.1, seed=3)
    b = train("2-4:tanh-1:logistic", X, y, iterations=5000, lr=0.1, seed=3)
    c = train("2-4:tanh-1:logistic", X, y, iterations=5000, lr=0.1, seed=4)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert not np.array_equal(a.params["W1"], c.params["W1"])


def test_per_sample_loop_equals_stepping_the_numpy_code_one_sample_at_a_time():
    net = derive("2-3:relu-2:softmax", "cross_entropy").network
    rng = np.random.default_rng(0)
    params = init_params(net, rng)
    X, Y = rng.normal(size=(2, 20)), np.eye(2)[:, rng.integers(0, 2, 20)]
    order = rng.integers(0, 20, size=300)
    arrays = [params[k].copy() for k in net.shapes()]
    assert per_sample_module(net).sgd(*arrays, X, Y, order, 0.1, 300, np.zeros(1)) == -1
    ref = {k: v.copy() for k, v in params.items()}
    mod = numpy_module(derive(net))
    for k in order:
        mod.sgd_step(ref, X[:, [k]], Y[:, [k]], 0.1)
    for name, arr in zip(net.shapes(), arrays):
        np.testing.assert_allclose(arr, ref[name], rtol=1e-12, atol=1e-14)


def test_softmax_answers_in_the_users_own_labels(tmp_path):
    X, y01 = _xor_like(300)
    y = np.where(y01 == 1, 7, 3)
    model = train("2-8:tanh-2:softmax", X, y, "cross_entropy", batch_size=16, epochs=60, lr=0.3, seed=0)
    assert set(model.predict(X)) <= {3, 7}
    assert model.score(X, y)["accuracy"] > 0.9
    model.save(tmp_path / "m.json")
    again = load(tmp_path / "m.json")
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    assert again.classes == [3, 7]


def test_history_has_one_point_per_epoch_or_per_thousand_steps():
    X, y = _xor_like()
    m1 = train("2-3:tanh-1:logistic", X, y, iterations=10_000, seed=0, validation=(X, y))
    assert m1.history["unit"] == "1000 steps" and len(m1.history["train"]) == len(m1.history["test"]) == 10
    m2 = train("2-3:tanh-1:logistic", X, y, batch_size=8, epochs=7, seed=0)
    assert m2.history["unit"] == "epoch" and len(m2.history["train"]) == 7


def test_float32_mini_batch_and_uniform_init():
    X, y = _xor_like()
    m = train("2-6:tanh-1:logistic", X, y, "binary_cross_entropy", batch_size=16, epochs=150, lr=0.5, seed=0,
              dtype="float32")
    assert m.score(X, y)["accuracy"] > 0.85
    u = init_params(derive("3-3:relu-1:logistic").network, np.random.default_rng(0), "uniform")
    assert all((v >= 0).all() and (v < 1).all() for v in u.values())


def test_default_init_leaves_no_relu_unit_dead_on_the_data():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(3, 50))
    net = derive("3-3:relu-1:logistic").network
    for seed in range(200):
        p = init_params(net, np.random.default_rng(seed), X=X)
        assert (p["W1"] @ X + p["B1"] > 0).any(axis=1).all()


def test_regression_reports_rmse(run_cli, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(300, 2))
    csv = tmp_path / "r.csv"
    np.savetxt(csv, np.column_stack([X, X[:, 0] - 2 * X[:, 1]]), delimiter=",", header="a,b,y", comments="")
    code, out, _ = run_cli("train", csv, "--net", "2-1:identity", "--epochs", "50", "--lr", "0.05")
    metrics = dict(line.split(": ") for line in out.splitlines()[1:])
    assert code == 0 and list(metrics) == ["train rmse", "train r2", "test rmse", "test r2"]
    assert float(metrics["test rmse"]) < 0.05 and float(metrics["test r2"]) > 0.99


def _diabetes_csv(tmp_path):
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    d = datasets.load_diabetes(scaled=False)
    csv = tmp_path / "diabetes.csv"
    np.savetxt(csv, np.column_stack([d.data, d.target]), delimiter=",", comments="",
               header=",".join([*d.feature_names, "progression"]))
    return csv, d


def test_regression_works_with_the_defaults_in_the_targets_own_units(run_cli, tmp_path):
    csv, d = _diabetes_csv(tmp_path)  # targets 25-346
    code, out, err = run_cli("train", csv, "--net", "10-16:relu-1:identity", "--standardize", "--batch-size", "32",
                             "--out", tmp_path / "d.json")
    assert code == 0, err
    metrics = dict(line.split(": ") for line in out.splitlines()[2:])
    assert float(metrics["test r2"]) >= 0.3 and 30 < float(metrics["test rmse"]) < 80
    model = load(tmp_path / "d.json")
    pred = model.predict(d.data)
    assert 100 < pred.mean() < 200 and pred.std() > 20  # the target's units, not standardised ones
    assert 1_000 < model.history["train"][-1] < 6_000  # the loss, too: squared progression units
    code, out, _ = run_cli("predict", tmp_path / "d.json", *map(str, d.data[0]))
    assert code == 0 and 50 < float(out) < 350
    code, out, err = run_cli("train", csv, "--net", "10-16:relu-1:identity", "--standardize", "--batch-size", "32",
                             "--no-target-scaling")
    assert code == 3 or float(dict(line.split(": ") for line in out.splitlines()[1:])["test r2"]) < 0.3


def test_plot_writes_a_png(run_cli, tmp_path):
    X, y = _xor_like()
    csv = tmp_path / "x.csv"
    np.savetxt(csv, np.column_stack([X, y]), delimiter=",", header="a,b,y", comments="", fmt="%g")
    code, out, _ = run_cli("train", csv, "--net", "2-4:tanh-1:logistic", "--iterations", "3000",
                           "--plot", tmp_path / "loss.png")
    assert code == 0
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_csv_and_prompt(run_cli, tmp_path, monkeypatch):
    X, y = _xor_like()
    model = train("2-4:tanh-1:logistic", X, y, iterations=20_000, lr=0.1, seed=0, feature_names=["a", "b"])
    model.save(tmp_path / "m.json")
    csv = tmp_path / "p.csv"
    csv.write_text("b,a\n0.5,0.5\n-0.5,0.5\n")
    code, out, _ = run_cli("predict", tmp_path / "m.json", "--csv", csv)
    lines = out.splitlines()
    assert code == 0 and lines[0] == "row,prediction,p"
    assert [line.split(",")[:2] for line in lines[1:]] == [["2", "1"], ["3", "0"]]
    assert all(0.5 <= float(line.split(",")[2]) <= 1 for line in lines[1:])
    monkeypatch.setattr("sys.stdin", io.StringIO("0.5 0.5\n\n0.5,-0.5\n"))  # values from a pipe
    code, out, _ = run_cli("predict", tmp_path / "m.json")
    assert code == 0 and [line.split()[1] for line in out.splitlines()] == ["1", "0"]
    monkeypatch.setattr("sys.stdin", io.StringIO("0.5 0.5\n0.5 x\n"))
    code, out, err = run_cli("predict", tmp_path / "m.json")
    assert code == 2 and "standard input, line 2: 'x' is not a number" in err
    answers = iter(["0.5, 0.5", "0.5,-0.5", ""])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    code, out, _ = run_cli("predict", tmp_path / "m.json")
    assert code == 0 and [line.split()[1] for line in out.splitlines()] == ["1", "0"]


def test_without_numba_per_sample_training_still_works_and_says_so_once(tmp_path):
    import subprocess
    import sys

    code = ("import sys; sys.modules['numba'] = None\n"
            "import numpy as np, symbackprop\n"
            "X = np.random.default_rng(0).uniform(size=(50, 2)); y = (X[:, 0] > X[:, 1]).astype(int)\n"
            "for seed in (0, 1):\n"
            "    m = symbackprop.train('2-3:tanh-1:logistic', X, y, iterations=2000, lr=0.5, seed=seed)\n"
            "print(m.score(X, y)['accuracy'])\n")
    env = {**__import__("os").environ, "SYMBACKPROP_CACHE_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("numba is not available") == 1
    assert float(run.stdout) > 0.8


def test_progress_bar_on_a_terminal(capsys):
    X, y = _xor_like()
    train("2-3:tanh-1:logistic", X, y, iterations=3000, progress=True)
    assert "step" in capsys.readouterr().err


def test_test_size_zero_trains_on_every_row(run_cli, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n" + "\n".join(f"{a},{b},{int(a > b)}" for a, b in X) + "\n")
    code, out, err = run_cli("train", path, "--net", "2-2:tanh-1:logistic", "--iterations", "1000", "--test-size", "0")
    assert code == 0, err
    assert "on 30 rows" in out and "no test set (--test-size 0)" in out
    assert "train accuracy" in out and "test accuracy" not in out


def test_one_epoch_or_step_is_said_in_the_singular(run_cli, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n" + "".join(f"{a},{a},{a % 2}\n" for a in range(10)))
    code, out, err = run_cli("train", path, "--net", "2-1:logistic", "--batch-size", "4", "--epochs", "1")
    assert code == 0 and "batch size 4, 1 epoch, learning rate" in out, err
    code, out, err = run_cli("train", path, "--net", "2-1:logistic", "--iterations", "1")
    assert code == 0 and "per-sample SGD, 1 step, learning rate" in out, err


def _write_csv(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


def test_text_class_labels_are_learned_and_answered_in(run_cli, tmp_path):
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    iris = datasets.load_iris()
    species = [iris.target_names[t] for t in iris.target]
    _write_csv(tmp_path / "iris.csv", ["sl", "sw", "pl", "pw", "species"],
               [[*x, s] for x, s in zip(iris.data, species)])
    code, out, err = run_cli("train", tmp_path / "iris.csv", "--net", "4-8:relu-3:softmax", "--cost", "cross_entropy",
                             "--standardize", "--batch-size", "16", "--epochs", "200", "--out", tmp_path / "iris.json")
    assert code == 0, err
    assert float(out.split("test accuracy:")[1].split()[0]) >= 0.9
    assert run_cli("predict", tmp_path / "iris.json", "6.5", "3.0", "5.5", "1.8")[1].startswith("class virginica (p=")
    assert run_cli("predict", tmp_path / "iris.json", "5.0", "3.4", "1.5", "0.2")[1].startswith("class setosa (p=")
    from symbackprop import load

    model = load(tmp_path / "iris.json")
    assert model.classes == ["setosa", "versicolor", "virginica"]
    _write_csv(tmp_path / "few.csv", ["sl", "sw", "pl", "pw"], [[5.0, 3.4, 1.5, 0.2], [6.5, 3.0, 5.5, 1.8]])
    code, out, _ = run_cli("predict", tmp_path / "iris.json", "--csv", tmp_path / "few.csv")
    assert [line.split(",")[:2] for line in out.splitlines()[1:]] == [["2", "setosa"], ["3", "virginica"]]


def test_binary_text_labels_on_the_font_data(run_cli, font_csv, tmp_path):
    lines = font_csv.read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    _write_csv(tmp_path / "font.csv", lines[0].split(","),
               [[*r[:3], "dark" if r[3].strip() == "1" else "light"] for r in rows])
    code, out, err = run_cli("train", tmp_path / "font.csv", "--net", "3-3:relu-1:logistic", "--scale", "255",
                             "--iterations", "50000", "--out", tmp_path / "font.json")
    assert code == 0, err
    assert run_cli("predict", tmp_path / "font.json", "255", "255", "255")[1].startswith("class dark (p=")
    assert run_cli("predict", tmp_path / "font.json", "0", "0", "0")[1].startswith("class light (p=")


def test_text_labels_that_do_not_fit_are_one_line(run_cli, tmp_path):
    _write_csv(tmp_path / "three.csv", ["a", "label"], [[0.1, "x"], [0.2, "y"], [0.3, "z"], [0.4, "x"]])
    code, _, err = run_cli("train", tmp_path / "three.csv", "--net", "1-1:logistic")
    assert code == 2 and "3 classes (x, y, z) but a single logistic output tells two apart" in err
    code, _, err = run_cli("train", tmp_path / "three.csv", "--net", "1-1:identity")
    assert code == 2 and "row 2, column 'label': 'x' is not a number" in err
    _write_csv(tmp_path / "mixed.csv", ["a", "label"], [[0.1, "x"], [0.2, " "], [0.3, "y"]])
    code, _, err = run_cli("train", tmp_path / "mixed.csv", "--net", "1-2:softmax")
    assert code == 2 and "row 3, column 'label': the class label is empty" in err


def test_a_slow_first_compile_is_announced(tmp_path):
    import subprocess
    import sys

    code = ("import numpy as np, symbackprop as sb; X = np.random.default_rng(0).random((40, 3)); "
            "sb.train('3-7:tanh-5:relu-1:logistic', X, (X[:, 0] > .5).astype(int), iterations=50)")
    env = {**__import__("os").environ, "SYMBACKPROP_CACHE_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert ("symbackprop: compiling the generated code for 3-7:tanh-5:relu-1:logistic (first time only)..."
            in run.stderr.splitlines())


def test_initialisation_draws_only_what_is_trained():
    """The generator's sequence after initialising is the same whatever only prediction needs (batchnorm's running
    statistics): same seed, same sample order as before."""
    from symbackprop import parse_spec
    from symbackprop.train import _draw

    for spec in ("3-3:relu-1:logistic", "3-4:batchnorm:relu-1:logistic"):
        net = parse_spec(spec)
        a, b = np.random.default_rng(0), np.random.default_rng(0)
        params = init_params(net, a)
        for p in net.params:
            _draw(p, b, False)
        assert a.random() == b.random()
        assert set(params) == set(net.eval().shapes())


def test_numba_is_not_offered_for_mini_batches(run_cli, tmp_path):
    """numba measured 2.5x slower than NumPy on mini-batches: one line that says where mini-batches train."""
    X = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(SymbackpropError, match="the numba backend runs per-sample SGD .*numpy \\(the default\\), jax "
                                               "or torch"):
        train("3-4:relu-1:logistic", X, (X[:, 0] > 0).astype(int), backend="numba", epochs=2)
    path = tmp_path / "d.csv"
    path.write_text("a,b,c,y\n" + "\n".join(f"{a},{b},{c},{int(a > 0)}" for a, b, c in X))
    code, out, err = run_cli("train", path, "--net", "3-4:relu-1:logistic", "--backend", "numba",
                             "--batch-size", "8")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "per-sample SGD" in err
