"""The JAX and PyTorch backends: compiled gradients, exports, training on every device (issue 12)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import numpy as np
import pytest
from networks import CORPUS, ids, random_corpus
from test_formulas import COST as DEFINED_COST
from test_formulas import NET as DEFINED_NET

from symbackprop import derive, train
from symbackprop.draws import random_problem
from symbackprop.export import export

FRAMEWORKS = {"jax": "JAX is not installed (pip install 'symbackprop[jax]')",
              "torch": "PyTorch is not installed (pip install torch==2.13.0)"}
SUITE = CORPUS + random_corpus(12, seed=12) + [(DEFINED_NET, DEFINED_COST), ("2-3:relu-3:softmax", "squared_error")]


def needs(framework):
    return pytest.importorskip(framework, reason=FRAMEWORKS[framework])


def digits():
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    X, y = datasets.load_digits(return_X_y=True)
    return X, y


@pytest.mark.parametrize("framework", ["jax", "torch"])
@pytest.mark.parametrize("spec,cost", SUITE, ids=ids(SUITE))
def test_compiled_backend_equals_numpy_in_float64(framework, spec, cost):
    needs(framework)
    d = derive(spec, cost)
    params, X, Y = random_problem(d.network, np.random.default_rng(7), 5)
    c0, g0 = d.compile("numpy")(params, X, Y)
    c, g = d.compile(framework)(params, X, Y)
    assert float(c) == pytest.approx(c0, rel=1e-9, abs=1e-300)
    assert set(g) == set(g0)
    for k in g0:
        np.testing.assert_allclose(np.asarray(g[k]), g0[k], rtol=1e-9, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_float32_is_float32_and_close(framework):
    needs(framework)
    d = derive("3-4:leaky_relu-2:logistic", "binary_cross_entropy")
    params, X, Y = random_problem(d.network, np.random.default_rng(1), 6)
    c0, g0 = d.compile("numpy")(params, X, Y)
    c, g = d.compile(framework, "float32")(params, X, Y)
    assert all("float32" in str(v.dtype) for v in g.values())
    for k in g0:
        np.testing.assert_allclose(np.asarray(g[k]), g0[k], rtol=1e-4, atol=1e-6)


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("spec,cost", [("3-4:relu-2:softmax", "cross_entropy"), ("2-3:tanh-3:softplus-1:logistic",
                                        "squared_error"), (DEFINED_NET, DEFINED_COST),
                                       ("3-3:layernorm:tanh:residual-2:layernorm:softmax", "cross_entropy")])
def test_torch_export_backward_is_autograd_and_passes_gradcheck(tmp_path, spec, cost):
    torch = needs("torch")
    mod = _load(export(derive(spec, cost).network, "torch", tmp_path, name="net_torch")[0])
    model = mod.Model(dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert [n for n, _ in model.named_parameters()] == list(mod.SHAPES)
    assert model.W1.shape == (int(spec.split("-")[1].split(":")[0]), int(spec.split("-")[0]))  # (out, in)
    X = torch.randn(5, model.W1.shape[1], dtype=torch.float64, requires_grad=True)
    G = torch.randn(5, mod.SHAPES[list(mod.SHAPES)[-2]][0], dtype=torch.float64)
    (model(X) * G).sum().backward()  # the derived backward
    derived = {n: p.grad.clone() for n, p in model.named_parameters()}
    dX = X.grad.clone()
    # plain autograd through the module's own forward ops (rows in, logits out), on the same weights
    params = {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
    X2 = X.detach().clone().requires_grad_()
    (mod.forward(params, X2) * G).sum().backward()
    for n, p in params.items():
        torch.testing.assert_close(derived[n], p.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(dX, X2.grad, rtol=1e-10, atol=1e-12)
    inputs = (X.detach().clone().requires_grad_(), *(p.detach().clone().requires_grad_() for p in model.parameters()))
    assert torch.autograd.gradcheck(lambda *a: mod.NetworkFunction.apply(*a), inputs)


def test_the_torch_export_is_a_pytorch_module_as_pytorch_users_write_them(tmp_path):
    """Issue 22: parameters in PyTorch's default dtype, moving with .to(); forward returns logits, so that
    F.cross_entropy(model(X), y) is the right loss; predict_proba gives the probabilities."""
    torch = needs("torch")
    mod = _load(export(derive("4-6:tanh-3:softmax").network, "torch", tmp_path, name="rows_torch")[0])
    model = mod.Model(generator=torch.Generator().manual_seed(0))
    assert all(p.dtype == torch.get_default_dtype() == torch.float32 for p in model.parameters())
    X = torch.randn(7, 4)  # float32, as a DataLoader gives it
    logits = model(X)
    assert logits.dtype == torch.float32 and logits.shape == (7, 3)
    torch.testing.assert_close(model.predict_proba(X), torch.softmax(logits, dim=1))
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()  # the derived backward, from PyTorch's own loss
    c, grads = mod.gradients({n: p.detach() for n, p in model.named_parameters()}, X, y)
    assert float(c) == pytest.approx(loss.item(), rel=1e-5)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[n], rtol=1e-4, atol=1e-6)
    assert model.to(torch.float64).W1.dtype == torch.float64 and model(X.double()).dtype == torch.float64
    logistic = _load(export(derive("3-2:relu-1:logistic").network, "torch", tmp_path, name="logistic_torch")[0])
    net = logistic.Model()
    Xb = torch.randn(5, 3)
    torch.testing.assert_close(net.predict_proba(Xb), torch.sigmoid(net(Xb)))


def test_torch_model_drops_into_a_larger_model(tmp_path):
    torch = needs("torch")
    mod = _load(export(derive("4-5:tanh-3:identity").network, "torch", tmp_path, name="inner")[0])
    outer = torch.nn.Sequential(torch.nn.Linear(2, 4), mod.Model(), torch.nn.Tanh())
    X = torch.randn(7, 2)
    loss = outer(X).pow(2).sum()
    loss.backward()  # the first layer learns through the derived dC_dX
    assert outer[0].weight.grad is not None and torch.all(torch.isfinite(outer[0].weight.grad))
    assert outer[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("spec,cost", [("3-4:relu-2:softmax", "cross_entropy"), ("2-3:tanh-3:softplus-1:logistic",
                                        "binary_cross_entropy"), (DEFINED_NET, DEFINED_COST),
                                       ("3-3:layernorm:tanh:residual-2:layernorm:softmax", "cross_entropy")])
def test_jax_export_custom_vjp_equals_jax_grad_of_its_forward(tmp_path, spec, cost):
    jax = needs("jax")
    import jax.numpy as jnp

    from symbackprop.backends import x64

    mod = _load(export(derive(spec, cost).network, "jax", tmp_path, name="net_jax")[0])
    network = derive(spec, cost).network
    params, X, Y = random_problem(network, np.random.default_rng(4), 6)
    X, Y = X.T, Y.T  # samples as rows
    with x64(True):
        G = jnp.asarray(np.random.default_rng(5).normal(size=Y.shape))
        derived = jax.grad(lambda p, x: jnp.sum(mod.network(p, x) * G), argnums=(0, 1))(params, X)
        plain = jax.grad(lambda p, x: jnp.sum(mod.forward(p, x) * G), argnums=(0, 1))(params, X)
        for k in params:
            np.testing.assert_allclose(derived[0][k], plain[0][k], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(derived[1], plain[1], rtol=1e-10, atol=1e-12)
        c, g = jax.jit(mod.gradients)(params, X, Y)
        c_auto, g_auto = jax.value_and_grad(mod.cost)(params, X, Y)
        assert float(c) == pytest.approx(float(c_auto), rel=1e-12)
        for k in params:
            np.testing.assert_allclose(g[k], g_auto[k], rtol=1e-9, atol=1e-12)
        new, c_step = jax.jit(mod.sgd_step)(params, X, Y, 0.1)
        np.testing.assert_allclose(new["W1"], params["W1"] - 0.1 * np.asarray(g["W1"]), rtol=1e-12)


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_an_exported_model_carries_its_weights_and_scaling(tmp_path, framework):
    needs(framework)
    X, y = digits()
    model = train("64-16:relu-10:softmax", X[:400], y[:400], "cross_entropy", batch_size=32, epochs=3,
                  scale=16.0, seed=2)
    mod = _load(export(model, framework, tmp_path, name=f"digits_{framework}")[0])
    np.testing.assert_allclose(np.asarray(mod.predict_rows(X[400:450])), model.predict_proba(X[400:450]),
                               rtol=1e-6, atol=1e-9)


def test_backends_train_alike_from_one_seed():
    needs("jax")
    needs("torch")
    X, y = digits()
    runs = {b: train("64-32:relu-10:softmax", X[:600], y[:600], "cross_entropy", batch_size=32, epochs=4, lr=0.05,
                     scale=16.0, seed=3, backend=b) for b in ("numpy", "jax", "torch")}
    for b, model in runs.items():
        for k, v in runs["numpy"].params.items():
            np.testing.assert_allclose(model.params[k], v, rtol=1e-8, atol=1e-10, err_msg=f"{b} {k}")
    assert runs["jax"].history["device"].startswith("jax on ")
    assert runs["torch"].history["device"].startswith("torch on ")


def test_refusals_are_one_line(run_cli, tmp_path, monkeypatch):
    X, y = digits()
    from symbackprop.errors import SymbackpropError

    with pytest.raises(SymbackpropError, match="per-sample SGD runs on the numba backend"):
        train("64-10:softmax", X[:50], y[:50], "cross_entropy", backend="jax", iterations=10)
    with pytest.raises(SymbackpropError, match="unknown backend 'jaxx'.*jax"):
        train("64-10:softmax", X[:50], y[:50], "cross_entropy", backend="jaxx", epochs=1)
    monkeypatch.setitem(sys.modules, "jax", None)  # as if JAX were not installed
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(SymbackpropError, match=r"pip install 'symbackprop\[jax\]'"):
        derive("2-1:identity").compile("jax")
    code, out, err = run_cli("export", "2-1:identity", "--to", "torch", "--out", tmp_path)
    assert code != 0 and "symbackprop[torch]" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())
    code, out, err = run_cli("export", "2-1:identity", "--to", "numpy", "--out", tmp_path, "--name", "numpy")
    assert code != 0 and "would hide" in err


def _cli_digits(tmp_path, devices: int, out):
    X, y = digits()
    csv = tmp_path / "digits.csv"
    if not csv.exists():
        header = ",".join([f"p{i}" for i in range(64)] + ["digit"])
        np.savetxt(csv, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%d")
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-m", "symbackprop", "train", str(csv), "--net", "64-64:relu-10:softmax",
                          "--cost", "cross_entropy", "--scale", "16", "--batch-size", "32", "--epochs", "40",
                          "--lr", "0.1", "--backend", "jax", "--dtype", "float32", "--out", str(out)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_jax_trains_data_parallel_on_two_host_devices(tmp_path):
    needs("jax")
    from symbackprop import load

    two = _cli_digits(tmp_path, 2, tmp_path / "two.json")
    one = _cli_digits(tmp_path, 1, tmp_path / "one.json")
    assert "jax on 2 cpu devices" in two.splitlines()[0]
    assert "jax on 1 cpu device" in one.splitlines()[0]
    accuracy = float(two.split("test accuracy:")[1].split()[0])
    assert accuracy >= 0.95, two
    X, _ = digits()
    np.testing.assert_array_equal(load(tmp_path / "two.json").predict(X), load(tmp_path / "one.json").predict(X))


def _accelerator(framework) -> str | None:
    """The GPU kind a framework sees here, or None."""
    module = needs(framework)
    if framework == "jax":
        return "gpu" if any(d.platform == "gpu" for d in module.devices()) else None
    return "cuda" if module.cuda.is_available() else None


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_training_on_a_gpu_when_there_is_one(framework):
    kind = _accelerator(framework)
    if kind is None:
        pytest.skip(f"{framework} sees no GPU here (the GPU check runs where one is lent)")
    X, y = digits()
    model = train("64-64:relu-10:softmax", X[:1200], y[:1200], "cross_entropy", batch_size=32, epochs=40, lr=0.1,
                  scale=16.0, backend=framework, dtype="float32")
    assert kind in model.history["device"]
    assert model.score(X[1200:], y[1200:])["accuracy"] >= 0.95
