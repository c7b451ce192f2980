"""train --resume: a checkpoint in the model file continues training with exactly an uninterrupted run's numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symbackprop import train
from symbackprop.errors import ModelFileError, SymbackpropError
from symbackprop.model import from_json, load


def roundtrip(model):
    """The model as its file gives it back."""
    return from_json(json.loads(json.dumps(model.to_json())))


def problem():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 4))
    return X, (X[:, 0] - X[:, 2] > 0).astype(int) + (X[:, 1] > 0.5)


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_four_epochs_then_three_are_seven(backend, optimizer):
    """Dropout draws from the generator, Adam keeps moments and a step count, the schedule counts steps: all carry
    over, on every backend, to the last bit."""
    if backend != "numpy":
        pytest.importorskip(backend, reason=f"{backend} is not installed (the test extra has it)")
    X, y = problem()
    spec = "4-6:layernorm:tanh:dropout=0.2-3:softmax"
    schedule = {"kind": "step", "step_size": 2, "gamma": 0.5, "warmup": 4, "clip_norm": 0.5} \
        if optimizer == "adam" else None
    options = dict(batch_size=16, seed=4, backend=backend)
    whole = train(spec, X, y, epochs=7, optimizer=optimizer, schedule=schedule, **options)
    first = roundtrip(train(spec, X, y, epochs=4, optimizer=optimizer, schedule=schedule, **options))
    second = train(spec, X, y, epochs=3, resume=first, **options)
    for k, v in whole.params.items():
        np.testing.assert_array_equal(second.params[k], v, err_msg=k)
    assert second.history["train"] == whole.history["train"] and len(whole.history["train"]) == 7
    assert second.checkpoint.epochs == 7 and second.checkpoint.state["t"] == whole.checkpoint.state["t"]


def test_a_regression_with_batchnorm_and_adamw_resumes_exactly():
    """The checkpoint keeps the parameters as trained (before the output takes back the target's scaling) and the
    running statistics; the loss curve stays in the target's units."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 4))
    y = X @ [1.0, 2.0, -1.0, 0.5] * 10 + 3
    options = dict(batch_size=16, optimizer="adamw", seed=4, standardize=True)
    whole = train("4-6:batchnorm:relu-1:identity", X, y, epochs=7, **options)
    first = roundtrip(train("4-6:batchnorm:relu-1:identity", X, y, epochs=4, **options))
    second = train("4-6:batchnorm:relu-1:identity", X, y, epochs=3, resume=first, standardize=True)
    for k, v in whole.params.items():
        np.testing.assert_array_equal(second.params[k], v, err_msg=k)
    assert second.history["train"] == whole.history["train"]


def test_resume_through_the_command_line(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_cli("data", "iris")
    common = ["--net", "4-8:relu-3:softmax", "--standardize", "--batch-size", "16", "--optimizer", "adam",
              "--lr", "0.01", "--seed", "3"]
    assert run_cli("train", "iris.csv", *common, "--epochs", "3", "--out", "a.json")[0] == 0
    code, out, err = run_cli("train", "iris.csv", "--resume", "a.json", "--epochs", "2", "--out", "b.json")
    assert code == 0, err
    assert "2 epochs, learning rate 0.01 (resumed: epochs 4 to 5)" in out
    assert run_cli("train", "iris.csv", *common, "--epochs", "5", "--out", "c.json")[0] == 0
    b, c = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "bc")
    assert b["params"] == c["params"] and b["history"] == c["history"] and b["metrics"] == c["metrics"]
    assert b["training"] == c["training"] and b["training"]["epochs"] == 5


@pytest.mark.parametrize("argv,message", [
    (["--resume", "a.json", "--epochs", "2", "--optimizer", "sgd"], "with the options it was trained with: leave "
                                                                     "out --optimizer"),
    (["--resume", "a.json", "--epochs", "2", "--net", "4-8:relu-3:softmax"], "leave out --net"),
    (["--resume", "a.json", "--epochs", "2", "--no-target-scaling"], "leave out --no-target-scaling"),
    (["--resume", "a.json"], "--resume continues mini-batch training: give --epochs"),
    (["--resume", "a.json", "--epochs", "2", "--test", "iris.csv"], "held out a share of its data for testing"),
    (["--resume", "p.json", "--epochs", "2"], "p.json has no training state to resume: it was trained per sample"),
    (["--resume", "e.json", "--epochs", "2"], "e.json has no training state to resume"),
    (["--resume", "cos.json", "--epochs", "2"], "anneals its learning rate over its own 3 epochs (cosine)"),
    (["--resume", "missing.json", "--epochs", "2"], "missing.json"),
    (["--epochs", "2"], "train needs --net SPEC (or --resume MODEL.json"),
])
def test_what_cannot_resume_gets_one_line(run_cli, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    run_cli("data", "iris")
    base = ["iris.csv", "--net", "4-5:relu-3:softmax", "--standardize"]
    made = {"a.json": ["--batch-size", "16", "--epochs", "3"], "p.json": ["--iterations", "100"],
            "e.json": ["--epochs", "3", "--early-stopping", "2", "--val-size", "0.2"],
            "cos.json": ["--epochs", "3", "--optimizer", "adam", "--lr-schedule", "cosine"]}
    for name, extra in made.items():
        assert run_cli("train", *base, *extra, "--out", name)[0] == 0
    code, out, err = run_cli("train", "iris.csv", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_the_python_api_refuses_another_network_or_optimizer():
    X, y = problem()
    model = train("4-5:relu-3:softmax", X, y, batch_size=16, epochs=2, optimizer="adam")
    with pytest.raises(SymbackpropError, match="the model is 4-5:relu-3:softmax with cost cross_entropy, not "
                                               "4-6:relu-3:softmax"):
        train("4-6:relu-3:softmax", X, y, epochs=1, resume=model)
    with pytest.raises(SymbackpropError, match=r"trained with adam \(beta1 0.9.*not momentum"):
        train("4-5:relu-3:softmax", X, y, epochs=1, resume=model, optimizer="momentum")
    with pytest.raises(SymbackpropError, match="trained with batch size 16, not 8"):
        train("4-5:relu-3:softmax", X, y, epochs=1, resume=model, batch_size=8)
    with pytest.raises(SymbackpropError, match="trained with standardize=False, not True"):
        train("4-5:relu-3:softmax", X, y, epochs=1, resume=model, standardize=True)


@pytest.mark.parametrize("part,value,message", [
    (("options", "schedule", "kind"), "__import__('os')", "no schedule of known kind"),
    (("options", "schedule", "total"), "1 + 1", "no schedule of known kind"),
    (("options", "lr"), -1, "an option lr that is not what training writes"),
    (("options", "optimizer"), "adamx", "names an unknown optimizer 'adamx'"),
    (("rng", "state", "state"), 2 ** 200, "does not read back"),
    (("rng", "state", "inc"), -5, "no PCG64 generator state"),
    (("rng", "bit_generator"), "MT19937", "no PCG64 generator state"),
    (("state", "m_W1"), [[1.0]], "m_W1 that is not a finite 5×4 matrix"),
    (("params", "W1"), "x", "W1 that is not a finite 5×4 matrix"),
    (("epochs",), 0, "no whole number of epochs"),
])
def test_a_damaged_training_state_is_one_line_and_never_run(tmp_path, part, value, message):
    """A model file's training state is checked before any of it is used; no text in it is parsed as an
    expression (a schedule's numbers are numbers, never SymPy text)."""
    X, y = problem()
    doc = train("4-5:relu-3:softmax", X, y, batch_size=16, epochs=2, optimizer="adam").to_json()
    where = doc["training"]
    for key in part[:-1]:
        where = where[key]
    where[part[-1]] = value
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match=f"its training state \\(for --resume\\) .*{message}"):
        load(path)
