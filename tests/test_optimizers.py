"""Optimizers as update equations printed into the training step (issue 23 in part; issue 22's Adam loop):
each equals torch.optim on the same gradients, trains through the CLI, and refuses bad options in one line."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symbackprop import parse_spec, train
from symbackprop.backends import numpy_module, optimizer_module
from symbackprop.backends.updates import flat_state
from symbackprop.draws import random_problem
from symbackprop.errors import SymbackpropError
from symbackprop.frameworks import initial_state
from symbackprop.optimizers import get_optimizer

SPEC = "3-4:layernorm:tanh-2:softmax"  # weights, biases and norm parameters (AdamW decays the weights only)


def torch_optimizer(torch, name, tensors, network, lr):
    weights = [tensors[q.name] for q in network.params if q.penalised]
    others = [tensors[q.name] for q in network.params if not q.penalised]
    if name == "sgd":
        return torch.optim.SGD(list(tensors.values()), lr=lr)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(list(tensors.values()), lr=lr, momentum=0.9, nesterov=name == "nesterov")
    if name == "rmsprop":
        return torch.optim.RMSprop(list(tensors.values()), lr=lr, alpha=0.99, eps=1e-8)
    if name == "adam":
        return torch.optim.Adam(list(tensors.values()), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    return torch.optim.AdamW([{"params": weights, "weight_decay": 0.01}, {"params": others, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.999), eps=1e-8)


class Steps:
    """Our generated ``optimizer_step`` on one backend (``way``): numpy or torch, per parameter or over flat
    buffers (with the update printed as array operations, or as the numba kernel training uses: ``-kernel``), or
    jax (functional); ``step(X, Y)`` returns the cost, ``params()`` NumPy copies, ``t()`` the count."""

    def __init__(self, way, network, optimizer, params, lr):
        self.way, self.lr = way, lr
        kernel = way.endswith("kernel")
        flat, library = kernel or way.endswith("flat"), way.split("-")[0]
        self.module = optimizer_module(network, optimizer, library, flat=flat, kernel=kernel)
        assert kernel == any(call in self.module.__source__ for call in ("    _update(all_P", "_update(*host,"))
        if library == "torch":
            import torch

            self.ours = {k: torch.tensor(v) for k, v in params.items()}
            zeros = (lambda n, like: torch.zeros(n, dtype=like.dtype)) if flat else torch.zeros_like
        else:
            self.ours = {k: v.copy() for k, v in params.items()}
            zeros = (lambda n, like: np.zeros(n, like.dtype)) if flat else np.zeros_like
        self.state = flat_state(network, optimizer, self.ours, zeros) if flat else \
            initial_state(network, optimizer, self.ours, zeros)
        if library == "torch":
            self.convert = lambda a: torch.tensor(a)  # noqa: E731
        else:
            self.convert = lambda a: a  # noqa: E731

    def step(self, X, Y):
        if self.way == "jax":
            from symbackprop.backends import x64

            with x64(True):
                self.ours, self.state, cost = self.module.optimizer_step(self.ours, self.state, X, Y, self.lr)
            return float(cost)
        return float(self.module.optimizer_step(self.ours, self.state, self.convert(X), self.convert(Y), self.lr))

    def params(self):
        return {k: np.asarray(v, dtype=float) for k, v in self.ours.items()}

    def t(self):
        return int(self.state["t"])


WAYS = ["numpy", "numpy-flat", "numpy-kernel", "torch", "torch-flat", "torch-kernel", "jax"]


def twenty_steps(torch, optimizer, lr, seed, reference, clip=None, scheduler=None, way="numpy"):
    """20 batches through our generated ``optimizer_step`` (on ``way``) and through a torch.optim ``reference``
    (made from the parameter tensors) fed the same derived gradients, clipped and scheduled as asked: (params,
    ours, tensors, t); our cost before each step equals the derived one."""
    if way.startswith("jax"):
        pytest.importorskip("jax", reason="JAX is not installed (the test extra has it)")
    network = parse_spec(SPEC, "cross_entropy")
    rng = np.random.default_rng(seed)
    params, _, _ = random_problem(network, rng, 1)
    batches = [random_problem(network, rng, 6)[1:] for _ in range(20)]
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    reference = reference(tensors, network)
    scheduler = scheduler(reference) if scheduler else None
    gradients = numpy_module(network).gradients
    ours = Steps(way, network, optimizer, params, lr)
    for X, Y in batches:
        cost = ours.step(X, Y)
        want_cost, grads = gradients({k: t.detach().numpy() for k, t in tensors.items()}, X, Y)
        assert cost == pytest.approx(want_cost, rel=1e-9)
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(list(tensors.values()), clip)
        reference.step()
        if scheduler is not None:
            scheduler.step()
    return params, ours.params(), tensors, ours.t()


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_each_optimizer_equals_torch_optim_over_twenty_steps(name, way):
    """On NumPy and PyTorch per parameter (the exports) and over flat buffers (training), and on JAX: each equal to
    torch.optim over 20 batches in float64."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (the test extra has it)")
    lr = 0.05 if name in ("sgd", "momentum", "nesterov") else 0.01
    params, ours, tensors, steps = twenty_steps(
        torch, get_optimizer(name), lr, 3, lambda tensors, network: torch_optimizer(torch, name, tensors, network, lr),
        way=way)
    assert steps == 20
    assert_moved_as_torch(ours, tensors, params, name)


def assert_moved_as_torch(ours, tensors, params, name, rtol=1e-9, atol=1e-12):
    """Our parameters equal torch.optim's tensors, and they moved from ``params``."""
    for k, t in tensors.items():
        np.testing.assert_allclose(ours[k], t.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"{name} {k}")
    assert any(not np.allclose(ours[k], params[k]) for k in params)


def torch_per_sample(torch, name, network, params, X, Y, order, lr):
    """torch.optim's tensors after a step per sample of ``order``, each fed that sample's derived gradient."""
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    reference = torch_optimizer(torch, name, tensors, network, lr)
    gradients = numpy_module(network).gradients
    for s in order:
        _, grads = gradients({k: t.detach().numpy() for k, t in tensors.items()}, X[:, [s]], Y[:, [s]])
        for k, t in tensors.items():
            t.grad = torch.tensor(grads[k])
        reference.step()
    return tensors


def test_adam_trains_digits_through_the_cli(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_cli("data", "digits")
    code, out, err = run_cli("train", "digits.csv", "--net", "64-32:relu-10:softmax", "--scale", "16",
                             "--batch-size", "32", "--epochs", "15", "--optimizer", "adam", "--betas", "0.9,0.99")
    assert code == 0, err
    assert "mini-batch adam (beta1 0.9, beta2 0.99, epsilon 1e-08), batch size 32, 15 epochs, learning rate " \
           "0.001" in out
    assert float(out.strip().splitlines()[-1].split(":")[1]) >= 0.93


def test_derive_shows_the_update_equations(run_cli):
    code, out, _ = run_cli("derive", "3-2:relu-1:logistic", "--optimizer", "adam")
    assert code == 0
    assert "m_P ← beta1*m_P + g*(1 - beta1)" in out and "v_P ← beta2*v_P + g**2*(1 - beta2)" in out
    assert "P ← P - lr*m_P*sqrt(1 - beta2**t)/((1 - beta1**t)*(epsilon*sqrt(1 - beta2**t) + sqrt(v_P)))" in out
    assert "that is lr*m_hat/(sqrt(v_hat) + epsilon) with m_hat = m_P/(1 - beta1**t)" in out
    code, out, _ = run_cli("derive", "3-2:relu-1:logistic", "--optimizer", "momentum")
    assert "b_P ← b_P*mu + g" in out and "P ← P - b_P*lr" in out


def test_adams_efficient_order_is_the_textbook_update():
    """The rule Adam prints (lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m/(√v + ε·√(1 − β₂ᵗ))) is lr·m̂/(√v̂ + ε), proven by SymPy."""
    from symbackprop.optimizers import beta1, beta2, eps, lr, m, p, t, v

    M, V, c = (sp.Symbol(n, positive=True) for n in ("M", "V", "c"))  # v >= 0 as Adam keeps it; c = 1 - β₂ᵗ > 0
    textbook = p - lr * (M / (1 - beta1 ** t)) / (sp.sqrt(V / (1 - beta2 ** t)) + eps)
    printed = dict(get_optimizer("adam").rule)[p].subs({m: M, v: V})
    assert sp.simplify((printed - textbook).xreplace({beta2 ** t: 1 - c})) == 0


@pytest.mark.parametrize("argv,message", [
    (["--optimizer", "adm"], "unknown optimizer 'adm'; did you mean 'adam'?"),
    (["--optimizer", "adam", "--betas", "1,0.9"], "--betas must be two numbers in [0, 1)"),
    (["--optimizer", "adam", "--betas", "0.9"], "two numbers separated by a comma"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum is for momentum, nesterov, not adam"),
    (["--optimizer", "sgd", "--weight-decay", "0.1"], "--weight-decay is for adamw, not sgd"),
    (["--optimizer", "adam", "--eps", "0"], "--eps must be a number of at least 0, above 0"),
    (["--optimizer", "rmsprop", "--alpha", "1"], "--alpha must be a number of at least 0 (and below 1)"),
    (["--optimizer", "momentum", "--momentum", "-1"], "--momentum must be a number of at least 0"),
    (["--optimizer", "adam", "--epochs", "1", "--backend", "numba"], "the numba backend runs per-sample SGD"),
    (["--optimizer", "adam", "--lr-schedule", "step"], "are for mini-batch training"),
])
def test_bad_optimizer_options_get_one_line(run_cli, tmp_path, argv, message):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    code, out, err = run_cli("train", csv, "--net", "2-3:relu-1:logistic", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("name", ["momentum", "adam", "adamw", "adam+schedule"])
def test_every_backend_trains_alike_with_an_optimizer(name):
    """The same seed: the same weights after training with the optimizer on NumPy, JAX and PyTorch (float64);
    NumPy and PyTorch over flat buffers, JAX per parameter."""
    pytest.importorskip("jax", reason="JAX is not installed (the test extra has it)")
    pytest.importorskip("torch", reason="PyTorch is not installed (the test extra has it)")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 4))
    y = (X[:, 0] - X[:, 2] > 0).astype(int) + (X[:, 1] > 0.5)
    schedule = {"kind": "cosine", "warmup": 5, "clip_norm": 0.5} if "schedule" in name else None
    runs = {b: train("4-6:layernorm:tanh-3:softmax", X, y, batch_size=16, epochs=6, optimizer=name.split("+")[0],
                     lr=0.01, seed=4, backend=b, schedule=schedule) for b in ("numpy", "jax", "torch")}
    for b, model in runs.items():
        for k, v in runs["numpy"].params.items():
            np.testing.assert_allclose(model.params[k], v, rtol=1e-8, atol=1e-10, err_msg=f"{name} {b} {k}")
    assert runs["jax"].history["train"][-1] < runs["jax"].history["train"][0]


def test_the_python_api_takes_an_optimizer_with_its_values():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = train("2-4:tanh-1:logistic", X, y, "binary_cross_entropy", batch_size=10, epochs=40,
                  optimizer=get_optimizer("adamw").with_values(weight_decay=0.1), lr=0.05)
    assert (model.predict(X) == y).mean() >= 0.9
    with pytest.raises(SymbackpropError, match="--weight-decay must be a number"):
        get_optimizer("adamw").with_values(weight_decay=float("nan"))


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
def test_early_stopping_keeps_the_best_epochs_weights_on_every_backend(backend):
    if backend != "numpy":
        pytest.importorskip(backend, reason=f"{backend} is not installed (the test extra has it)")
    from symbackprop.backends import numpy_module

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = X @ rng.normal(size=5) + rng.normal(size=200)
    model = train("5-32:relu-1:identity", X[:150], y[:150], batch_size=16, epochs=300, lr=0.05, backend=backend,
                  validation=(X[150:], y[150:]), early_stopping=10, seed=1)
    h = model.history
    assert h["stopped"] is not None and h["stopped"] - h["best_epoch"] == 10 and len(h["test"]) == h["stopped"]
    assert h["test"][h["best_epoch"] - 1] == min(h["test"])
    # the model's weights are the best epoch's: its validation loss is the minimum of the curve
    cost = numpy_module(model.network).cost(model.params, X[150:].T, y[150:][None, :])
    assert cost == pytest.approx(min(h["test"]), rel=1e-6)


def test_early_stopping_through_the_cli_and_its_refusals(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_cli("data", "diabetes")
    code, out, err = run_cli("train", "diabetes.csv", "--net", "10-32:relu-1:identity", "--standardize",
                             "--batch-size", "32", "--epochs", "500", "--optimizer", "adam", "--early-stopping", "20",
                             "--val-size", "0.2", "--seed", "0")
    assert code == 0, err
    assert "on 236 rows of diabetes.csv, tested on 147" in out and "stopped early after epoch " in out
    assert float(out.strip().splitlines()[-1].split(":")[1]) >= 0.44  # LinearRegression: 0.496 on this split
    for argv, message in ((["--early-stopping", "5", "--epochs", "3"], "--early-stopping and --val-size go together"),
                          (["--early-stopping", "0", "--val-size", "0.2", "--epochs", "3"],
                           "--early-stopping must be a whole number of epochs of at least 1"),
                          (["--early-stopping", "5", "--val-size", "0.2"], "needs mini-batch training"),
                          (["--early-stopping", "5", "--val-size", "1.5", "--epochs", "3"],
                           "--val-size must be above 0 and below 1")):
        code, out, err = run_cli("train", "diabetes.csv", "--net", "10-4:relu-1:identity", *argv)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (argv, err)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("which", ["cosine", "step", "warmup", "clip"])
def test_schedules_warmup_and_clipping_equal_torchs(which, way):
    """Each printed into the step, equal over 20 steps to PyTorch's scheduler (stepped after each step) or
    clip_grad_norm_ (before it), with Adam."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (the test extra has it)")
    from symbackprop.optimizers import Schedule

    schedules = {"cosine": Schedule("cosine", total=20), "step": Schedule("step", step_size=5, gamma=0.5),
                 "warmup": Schedule(warmup=7), "clip": Schedule(clip_norm=0.05)}
    scheduler = {"cosine": lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20),
                 "step": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5),
                 "warmup": lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 7)),
                 "clip": None}[which]
    _, ours, tensors, _ = twenty_steps(torch, get_optimizer("adam").with_schedule(schedules[which]), 0.02, 5,
                                       lambda tensors, _: torch.optim.Adam(list(tensors.values()), lr=0.02),
                                       clip=0.05 if which == "clip" else None, scheduler=scheduler, way=way)
    for k, t in tensors.items():
        np.testing.assert_allclose(ours[k], t.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=f"{which} {k}")


def test_schedule_options_through_the_cli_and_their_refusals(run_cli, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i % 7},{i % 3},{i % 2}\n" for i in range(40)))
    code, out, err = run_cli("train", csv, "--net", "2-3:relu-1:logistic", "--batch-size", "8", "--epochs", "5",
                             "--optimizer", "adam", "--lr-schedule", "cosine", "--warmup", "3", "--clip-norm", "1")
    assert code == 0, err
    assert "mini-batch adam (beta1 0.9, beta2 0.999, epsilon 1e-08), cosine schedule, warmup 3 steps, clip-norm 1" \
        in out
    for argv, message in ((["--epochs", "2", "--warmup", "50"], "--warmup must be at least 1 step and shorter than "
                                                                "training (2 steps)"),
                          (["--epochs", "2", "--gamma", "0.5"], "--step-size and --gamma are for --lr-schedule step"),
                          (["--epochs", "2", "--lr-schedule", "linear"], "--lr-schedule must be constant, step or"),
                          (["--epochs", "2", "--clip-norm", "0"], "--clip-norm must be a positive number"),
                          (["--lr-schedule", "cosine"], "are for mini-batch training")):
        code, out, err = run_cli("train", csv, "--net", "2-3:relu-1:logistic", *argv)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_the_python_exports_carry_the_chosen_optimizers_step(tmp_path, run_cli):
    """export --optimizer adam: optimizer_step and init_state over rows in the NumPy, JAX and PyTorch exports; the
    same numbers as training's own step; C refuses it in one line."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (the test extra has it)")
    pytest.importorskip("jax", reason="JAX is not installed (the test extra has it)")
    import importlib.util

    from symbackprop.backends import x64
    from symbackprop.export import export

    def load(path):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    finals = {}
    for to in ("numpy", "jax", "torch"):
        module = load(export("4-6:tanh-3:softmax", to, tmp_path, name=f"adam_{to}", optimizer="adam")[0])
        params = {k: np.asarray(v, dtype=float) for k, v in load(export("4-6:tanh-3:softmax", "numpy", tmp_path,
                                                                         name="init")[0]).init_params(0).items()}
        with x64(True):
            if to == "torch":
                params = {k: torch.tensor(v) for k, v in params.items()}
                Xs, ys = torch.tensor(X), torch.tensor(y)
            else:
                Xs, ys = X, y
            state = module.init_state(params) if to != "torch" else module.init_state(params, torch.float64)
            before = float(module.cost(params, Xs, ys))
            for _ in range(30):
                if to == "jax":
                    params, state, _ = module.optimizer_step(params, state, Xs, ys, 0.01)
                else:
                    module.optimizer_step(params, state, Xs, ys, 0.01)
            assert float(module.cost(params, Xs, ys)) < before
            finals[to] = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    for to in ("jax", "torch"):
        for k, v in finals["numpy"].items():
            np.testing.assert_allclose(finals[to][k], v, rtol=1e-9, atol=1e-12, err_msg=f"{to} {k}")
    code, _, err = run_cli("export", "4-6:tanh-3:softmax", "--to", "js", "--optimizer", "adam", "--out", tmp_path)
    assert code == 2 and "--optimizer is for the numpy, jax, torch and c exports, not --to js" in err


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["momentum", "rmsprop", "adamw"])
def test_the_c_export_steps_as_torch_optim_does(tmp_path, name, dtype):
    """export --to c --optimizer NAME: NAME_optimizer_step, one sample a step, compiled with -Werror; 30 steps equal
    torch.optim's fed the same samples' gradients (PyTorch's autograd, float64), to 1e-9 (1e-4 in float32)."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (the test extra has it)")
    import shutil
    import subprocess

    from symbackprop.export import export

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) on this machine; the C export checks are skipped")
    network = parse_spec(SPEC, "cross_entropy")
    rng = np.random.default_rng(5)
    params, X, Y = random_problem(network, rng, 6)
    order = rng.integers(0, 6, size=30)
    lr = 0.05 if name == "momentum" else 0.01
    export(f"{SPEC}", "c", tmp_path, "net", dtype=dtype, optimizer=name)
    real = "float" if dtype == "float32" else "double"
    init = ",\n".join(f"    .{k} = {{{', '.join('{' + ', '.join(repr(float(x)) for x in row) + '}' for row in v)}}}"
                      for k, v in params.items())
    rows = lambda A: ", ".join("{" + ", ".join(repr(float(x)) for x in col) + "}" for col in A.T)  # noqa: E731
    prints = "\n".join(f'    for (int i = 0; i < {v.size}; ++i) printf("%.17g\\n", (double)(&p.{k}[0][0])[i]);'
                       for k, v in params.items())
    (tmp_path / "main.c").write_text(f"""#include <stdio.h>
#include "net.h"
int main(void) {{
    net_params p = {{
{init}
    }};
    static net_state s;
    static const {real} X[6][{X.shape[0]}] = {{{rows(X)}}}, Y[6][{Y.shape[0]}] = {{{rows(Y)}}};
    static const int order[30] = {{{", ".join(map(str, order))}}};
    for (int k = 0; k < 30; ++k) net_optimizer_step(&p, &s, X[order[k]], Y[order[k]], {lr});
{prints}
    return 0;
}}
""")
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wno-overlength-strings", "-o",
                    str(tmp_path / "prog"), str(tmp_path / "main.c"), str(tmp_path / "net.c"), "-lm"], check=True)
    got = np.array(subprocess.run([str(tmp_path / "prog")], capture_output=True, text=True, check=True).stdout.split(),
                   dtype=float)
    tensors = torch_per_sample(torch, name, network, params, X, Y, order, lr)
    want = np.concatenate([t.detach().numpy().ravel() for t in tensors.values()])
    np.testing.assert_allclose(got, want, rtol=1e-9 if dtype == "float64" else 1e-4,
                               atol=1e-12 if dtype == "float64" else 1e-5)


@pytest.mark.slow
def test_the_accuracy_targets_through_the_cli(run_cli, tmp_path, monkeypatch):
    """Issue 23's targets with default hyperparameters plus --optimizer adam, seed 0: digits at least
    torch.optim.Adam's mean test accuracy over 3 seeds on the same split minus 0.01; diabetes with early stopping
    at least LinearRegression's test R² minus 0.03."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (the test extra has it)")
    linear_model = pytest.importorskip("sklearn.linear_model", reason="scikit-learn is not installed")
    import symbackprop
    from symbackprop.data import split

    monkeypatch.chdir(tmp_path)
    run_cli("data", "digits")
    code, out, _ = run_cli("train", "digits.csv", "--net", "64-64:relu-10:softmax", "--batch-size", "32",
                           "--epochs", "100", "--optimizer", "adam", "--seed", "0")
    ours = float(out.strip().splitlines()[-1].split(":")[1])
    digits = symbackprop.load_dataset("digits")
    X, y = digits.X, digits.y.astype(int)
    tr, te = split(len(X), 1 / 3, 0)
    accuracies = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)).double()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        Xt, yt = torch.tensor(X[tr]), torch.tensor(y[tr])
        order = torch.Generator().manual_seed(seed)
        for _ in range(100):
            for batch in torch.randperm(len(Xt), generator=order).split(32):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(Xt[batch]), yt[batch]).backward()
                optimizer.step()
        with torch.no_grad():
            accuracies.append((model(torch.tensor(X[te])).argmax(1).numpy() == y[te]).mean())
    assert ours >= np.mean(accuracies) - 0.01, (ours, accuracies)
    run_cli("data", "diabetes")
    code, out, _ = run_cli("train", "diabetes.csv", "--net", "10-32:relu-1:identity", "--standardize",
                           "--batch-size", "32", "--epochs", "500", "--optimizer", "adam", "--early-stopping", "20",
                           "--val-size", "0.2", "--seed", "0")
    r2 = float(out.strip().splitlines()[-1].split(":")[1])
    diabetes = symbackprop.load_dataset("diabetes")
    tr, te = split(len(diabetes.X), 1 / 3, 0)
    linear = linear_model.LinearRegression().fit(diabetes.X[tr], diabetes.y[tr]).score(diabetes.X[te], diabetes.y[te])
    assert r2 >= linear - 0.03, (r2, linear)


def test_a_model_trained_with_an_optimizer_and_early_stopping_saves_and_loads(tmp_path):
    from symbackprop import load

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] > 0).astype(int)
    model = train("3-4:tanh-1:logistic", X[:90], y[:90], "binary_cross_entropy", batch_size=10, epochs=50,
                  optimizer="adam", lr=0.05, validation=(X[90:], y[90:]), early_stopping=5, seed=0)
    model.save(tmp_path / "m.json")
    back = load(tmp_path / "m.json")
    assert back.history["optimizer"].startswith("adam (") and back.history["best_epoch"] == model.history["best_epoch"]
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


@pytest.mark.parametrize("name", ["momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_per_sample_steps_equal_torch_optim(name):
    """The numba loop with the optimizer's rule entry by entry, one sample a step: equal over 30 steps to
    torch.optim fed each sample's derived gradient."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (the test extra has it)")
    from symbackprop.per_sample import train_per_sample

    network = parse_spec(SPEC, "cross_entropy")
    rng = np.random.default_rng(6)
    params, X, Y = random_problem(network, rng, 12)
    lr = 0.05 if name in ("momentum", "nesterov") else 0.01
    ours = {k: v.copy() for k, v in params.items()}
    history = train_per_sample(network, numpy_module(network), ours, X, Y, 30, lr, np.random.default_rng(9), None,
                               False, get_optimizer(name))
    assert len(history["train"]) == 1
    order = np.random.default_rng(9).integers(0, 12, size=30)  # the order the loop draws
    assert_moved_as_torch(ours, torch_per_sample(torch, name, network, params, X, Y, order, lr), params, name)


def test_per_sample_adam_trains_the_textbook_network_through_the_cli(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_cli("data", "font")
    code, out, err = run_cli("train", "font.csv", "--net", "3-3:relu-1:logistic", "--scale", "255",
                             "--iterations", "20000", "--optimizer", "adam", "--lr", "0.01")
    assert code == 0, err
    assert "per-sample adam (beta1 0.9, beta2 0.999, epsilon 1e-08), 20000 steps" in out
    assert float(out.strip().splitlines()[-1].split(":")[1]) >= 0.9
