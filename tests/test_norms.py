"""LayerNorm and residual connections (issue 11): the grammar, SymPy's proof of the closed form, and agreement
with PyTorch float64 on a corpus of random networks through every backend."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from networks import torch_reference
from test_export import CC, CFLAGS, needs_cc

from symbackprop import Dense, Network, derive, gradcheck, parse_spec, train
from symbackprop.draws import random_problem
from symbackprop.errors import SpecError, SymbackpropError
from symbackprop.layers.norm import closed_form_holds, closed_form_matches_differences, jacobian_form_holds

HIDDEN = ["identity", "relu", "leaky_relu", "logistic", "tanh", "softplus"]


def norm_corpus(count: int = 18, seed: int = 11):
    """Random specs mixing layernorm, batchnorm, dropout and residual layers with every activation and cost."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        depth = 2 + k % 3
        width = int(rng.integers(2, 6))
        layers = []
        for i in range(depth - 1):
            norm = ["", ":layernorm", ":batchnorm"][(k + i) % 3]
            dropout = ":dropout=0.25" if (k + 2 * i) % 4 == 1 else ""
            residual = ":residual" if i > 0 and (k + i) % 3 != 1 else ""
            layers.append(f"{width}{norm}:{HIDDEN[(k + i) % len(HIDDEN)]}{dropout}{residual}")
        cost = ["squared_error", "binary_cross_entropy", "cross_entropy"][k % 3]
        last = {"squared_error": f"{1 + k % 2}:tanh", "binary_cross_entropy": "1:logistic",
                "cross_entropy": "3:softmax"}[cost]
        if k % 4 == 3:
            last = last.replace(":", [":layernorm:", ":batchnorm:"][k % 2], 1)
        out.append(("-".join([str(int(rng.integers(1, 5)))] + layers + [last]), cost))
    return out


CORPUS = norm_corpus()


def assert_agrees_with_pytorch(d, backend: str, seed: int, m: int) -> dict:
    """Cost and every gradient of the compiled derivation against PyTorch float64 at a random point (norm scales
    near 1, dropout masks drawn), to 1e-9; returns the point's params."""
    params, X, Y = random_problem(d.network, np.random.default_rng(seed), m)
    params = {k: v if not k.startswith("gamma") else 1 + 0.3 * v for k, v in params.items()}
    want_cost, want = torch_reference(d.network, params, X, Y)
    got_cost, got = d.compile(backend)(params, X, Y)
    assert float(got_cost) == pytest.approx(want_cost, rel=1e-9)
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-9, atol=1e-12, err_msg=k)
    return params


@pytest.mark.parametrize("backend", ["numpy", "numba", "jax", "torch"])
@pytest.mark.parametrize("spec,cost", CORPUS, ids=[f"{s}/{c}" for s, c in CORPUS])
def test_corpus_agrees_with_pytorch_float64(spec, cost, backend):
    if backend in ("jax", "torch"):
        pytest.importorskip(backend, reason=f"{backend} is not installed")
    d = derive(spec, cost)
    if backend == "numba" and (d.network.masks or d.network.batch_coupled):
        with pytest.raises(SymbackpropError, match="use the numpy, jax or torch backend"):
            d.compile(backend)
        return
    assert_agrees_with_pytorch(d, backend, seed=5, m=4)


def test_the_corpus_mixes_every_new_layer_activation_and_cost():
    text = " ".join(spec for spec, _ in CORPUS)
    for part in (":layernorm:", ":batchnorm:", ":dropout=", ":residual", *HIDDEN, "softmax", "logistic"):
        assert part in text, part
    assert {c for _, c in CORPUS} == {"squared_error", "binary_cross_entropy", "cross_entropy"}


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_the_framework_backends_agree_too(framework):
    pytest.importorskip(framework, reason=f"{framework} is not installed")
    for spec, cost in CORPUS[:6]:
        d = derive(spec, cost)
        if d.network.masks or d.network.batch_coupled:
            continue
        params, X, Y = random_problem(d.network, np.random.default_rng(6), 3)
        c0, g0 = d.compile("numpy")(params, X, Y)
        c1, g1 = d.compile(framework)(params, X, Y)
        assert float(c1) == pytest.approx(c0, rel=1e-9)
        for k in g0:
            np.testing.assert_allclose(np.asarray(g1[k]), g0[k], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_sympy_proves_the_norms_jacobian_and_closed_form_entry_by_entry(n):
    """Widths 1-5 for LayerNorm and batch sizes 1-5 for BatchNorm: the same statement over another axis."""
    assert jacobian_form_holds(n) and closed_form_holds(n)


def test_wider_layers_check_the_closed_form_against_central_differences():
    assert closed_form_matches_differences(16) and closed_form_matches_differences(64, seed=3)


def test_derive_prints_the_per_entry_jacobian_the_closed_form_and_its_proof(run_cli):
    code, out, _ = run_cli("derive", "4-4:layernorm:relu:residual-2:softmax")
    assert code == 0
    assert "dN1_dZ1 = gamma1_i*(-Xhat1_i*Xhat1_j/4 + KroneckerDelta(i, j) - 1/4)/sigma1   [jacobian, 4×4]" in out
    assert ("dC_dZ1 = (G − mean(G) − Xhat1 ⊙ mean(G ⊙ Xhat1)) / sigma1,  G = gamma1 ⊙ dC_dN1" in out)
    assert "proven against the per-entry derivation by SymPy at this width (4): the Jacobian shown is SymPy's" in out
    code, out, _ = run_cli("derive", "4-4:layernorm:relu:residual-2:softmax", "--format", "json")
    doc = json.loads(out)
    assert doc["closed_forms"][0]["proof"].startswith("proven against the per-entry derivation")


def test_a_residual_fan_in_is_written_as_the_sum_of_both_paths():
    d = derive("3-3:relu-3:tanh:residual-1:logistic", "binary_cross_entropy")
    text = d.to_text()
    assert "dC_dA1 = dC_dA2 + W2ᵀ · dC_dZ2   (3×1)" in text
    assert ("dC_dW1 = dC_dA3 * dA3_dZ3 * dZ3_dA2 * dA2_dR2 * dR2_dZ2 * dZ2_dA1 * dA1_dZ1 * dZ1_dW1 + "
            "dC_dA3 * dA3_dZ3 * dZ3_dA2 * dA2_dA1 * dA1_dZ1 * dZ1_dW1") in text  # both paths, summed
    assert gradcheck(d).ok


@pytest.mark.parametrize("spec,message", [
    ("3-4:relu:residual-1:logistic", "adds its input to its output, so its width must equal the previous width 3"),
    ("3-3:relu-1:logistic:residual", "the output layer (1:logistic:residual) cannot be residual"),
    ("3-3:layernorm-1:logistic", "missing activation after layernorm"),
    ("3-3:relu:twice-1:logistic", "unknown option 'twice'"),
    ("3-3:relu-1:logistic:dropout=0.1", "the output layer (1:logistic:dropout=0.1) cannot have dropout"),
    ("3-3:relu:dropout=1.5-1:logistic", "dropout=1.5 must be at least 0 and at most 0.99"),
])
def test_grammar_mistakes_are_one_line(run_cli, spec, message):
    code, out, err = run_cli("derive", spec)
    assert code == 2 and not out and message in err and len(err.strip().splitlines()) == 1


def test_the_builder_takes_the_same_layers_as_objects():
    net = Network(4, [Dense(4, "relu", norm="layernorm", residual=True), Dense(2, "softmax")])
    assert net.spec == "4-4:layernorm:relu:residual-2:softmax" and net == parse_spec(net.spec)
    assert list(net.shapes()) == ["W1", "B1", "gamma1", "beta1", "W2", "B2"]
    with pytest.raises(SpecError, match="previous width 4"):
        Network(4, [Dense(3, "relu", residual=True), Dense(2, "softmax")])


def test_train_save_load_and_predict_through_every_path(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    spec = "3-8:layernorm:tanh-8:layernorm:relu:residual-1:logistic"
    for options in ({"iterations": 20_000}, {"batch_size": 16, "epochs": 40}):
        model = train(spec, X[:200], y[:200], "binary_cross_entropy", lr=0.05, seed=1, **options)
        assert model.score(X[200:], y[200:])["accuracy"] > 0.8
    model.save(tmp_path / "m.json")
    from symbackprop import load

    again = load(tmp_path / "m.json")
    np.testing.assert_allclose(again.predict_proba(X[:20]), model.predict_proba(X[:20]), rtol=1e-12)
    assert np.all(model.params["gamma1"] != 1)  # the norm's parameters learned


@needs_cc
def test_the_c_export_compiles_with_werror_and_passes_its_harness(tmp_path):
    from symbackprop.export import export

    export(parse_spec("4-4:layernorm:relu:residual-3:layernorm:softmax"), "c", tmp_path, "ln")
    subprocess.run([CC, *CFLAGS, "-o", "t", "test_ln.c", "ln.c", "-lm"], cwd=tmp_path, check=True)
    run = subprocess.run(["./t"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("OK"), run.stdout


# -- weight decay -------------------------------------------------------------------------------------------------
DECAYED = [("3-4:layernorm:tanh-4:relu:residual-1:logistic", "binary_cross_entropy"),
           ("2-3:layernorm:leaky_relu-3:softmax", "cross_entropy"), ("3-3:relu-1:logistic", "squared_error")]


@pytest.mark.parametrize("backend", ["numpy", "numba", "jax", "torch"])
@pytest.mark.parametrize("spec,cost", DECAYED, ids=[f"{s}/{c}" for s, c in DECAYED])
def test_weight_decay_agrees_with_pytorch(spec, cost, backend):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    if backend == "jax":
        pytest.importorskip("jax", reason="JAX is not installed")
    lam = 0.01
    d = derive(spec, cost, l2=lam)
    params, X, Y = random_problem(d.network, np.random.default_rng(8), 4)
    want_cost, want = torch_reference(d.network, params, X, Y)
    weights = [p.name for p in d.network.params if p.penalised]
    assert weights == [f"W{k}" for k in range(1, d.network.depth + 1)]
    want_cost += lam * sum(float((params[w] ** 2).sum()) for w in weights)
    for w in weights:
        want[w] = want[w] + 2 * lam * params[w]
    got_cost, got = d.compile(backend)(params, X, Y)
    assert float(got_cost) == pytest.approx(want_cost, rel=1e-9)
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-9, atol=1e-12, err_msg=k)
    assert torch is not None


def test_weight_decay_is_shown_in_each_weight_gradient_and_nowhere_else(run_cli):
    code, out, _ = run_cli("derive", "3-3:layernorm:relu-1:logistic", "--l2", "0.001")
    assert code == 0 and "# Weight decay: the batch cost adds 0.001·Σ‖W‖²" in out
    assert "dC_dW1 = dC_dZ1 · Xᵀ + 0.002 ⊙ W1   (3×3)" in out and "dC_dW2 = dC_dZ2 · A1ᵀ + 0.002 ⊙ W2" in out
    assert "dC_dB1 = dC_dZ1   (3×1)" in out and "dC_dgamma1 = dC_dN1 ⊙ Xhat1   (3×1)" in out
    code, out, _ = run_cli("gradcheck", "3-3:layernorm:relu-1:logistic", "--l2", "0.1")
    assert code == 0 and out.rstrip().endswith("OK: every gradient agrees")
    code, _, err = run_cli("derive", "3-3:relu-1:logistic", "--l2", "-1")
    assert code == 2 and "--l2 must be a number of at least 0" in err


def test_training_with_weight_decay_keeps_weights_smaller_and_the_model_remembers(tmp_path):
    from symbackprop import load

    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    norms = {}
    for lam in (0.0, 0.05):
        for options in ({"iterations": 20_000}, {"batch_size": 16, "epochs": 60}):
            model = train("4-8:tanh-1:logistic", X, y, "binary_cross_entropy", lr=0.1, seed=2, l2=lam, **options)
            norms[lam, len(options)] = sum(float((model.params[w] ** 2).sum()) for w in ("W1", "W2"))
    assert norms[0.05, 1] < 0.7 * norms[0.0, 1] and norms[0.05, 2] < 0.7 * norms[0.0, 2]
    model.save(tmp_path / "m.json")
    assert load(tmp_path / "m.json").network.l2 == 0.05


@needs_cc
def test_weight_decay_in_the_c_export(tmp_path):
    from symbackprop.export import export

    export(parse_spec("3-4:layernorm:tanh-1:logistic").with_l2(0.01), "c", tmp_path, "wd")
    subprocess.run([CC, *CFLAGS, "-o", "t", "test_wd.c", "wd.c", "-lm"], cwd=tmp_path, check=True)
    run = subprocess.run(["./t"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("OK"), run.stdout


# -- dropout and batchnorm ---------------------------------------------------------------------------------------
FIXED = [("3-5:relu:dropout=0.25-5:tanh:dropout=0.5:residual-2:softmax", "cross_entropy"),
         ("2-4:layernorm:logistic:dropout=0.1-1:logistic", "binary_cross_entropy"),
         ("4-3:softplus:dropout=0.3-2:tanh", "squared_error"),
         ("3-4:batchnorm:relu-4:batchnorm:tanh:residual-2:softmax", "cross_entropy"),
         ("2-5:batchnorm:logistic:dropout=0.2-1:batchnorm:logistic", "binary_cross_entropy"),
         ("4-3:softplus-2:batchnorm:identity", "squared_error")]


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("spec,cost", FIXED, ids=[f"{s}/{c}" for s, c in FIXED])
def test_dropout_with_a_fixed_mask_and_batchnorm_in_training_mode_agree_with_pytorch(spec, cost, backend):
    """Batchnorm's gradient is batch-coupled: over the 6 columns together."""
    if backend == "jax":
        pytest.importorskip("jax", reason="JAX is not installed")
    d = derive(spec, cost)
    params = assert_agrees_with_pytorch(d, backend, seed=9, m=6)
    assert {k for k in params if k.startswith("M")} == {str(k) for k, _ in d.network.masks}
    assert gradcheck(d).ok


def test_dropout_shows_its_mask_as_an_input_and_runs_where_it_can(run_cli):
    d = derive("3-4:relu:dropout=0.25-2:softmax")
    assert "dA1_dH1 = 4*M1/3   [elementwise, 4×1]" in d.to_text()
    assert d.network.eval().spec == "3-4:relu-2:softmax"
    with pytest.raises(SymbackpropError, match="pass its masks in params as M1"):
        d.compile("numpy")({k: np.ones(s) for k, s in d.network.shapes().items()}, np.ones((3, 2)), np.ones((2, 2)))
    with pytest.raises(SymbackpropError, match="the per-sample numba code does not draw"):
        d.compile("numba")
    X = np.random.default_rng(0).normal(size=(50, 3))
    for options in ({"iterations": 10}, {"epochs": 1, "backend": "numba"}):
        with pytest.raises(SymbackpropError, match="trains mini-batches on the numpy, jax or torch backend"):
            train("3-4:relu:dropout=0.25-2:softmax", X, (X[:, 0] > 0).astype(int), **options)


def test_every_backend_draws_the_same_masks_from_one_seed():
    pytest.importorskip("jax", reason="JAX is not installed")
    pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    X, y = datasets.load_digits(return_X_y=True)
    runs = {b: train("64-32:relu:dropout=0.2-32:tanh:dropout=0.1:residual-10:softmax", X[:1000], y[:1000],
                     batch_size=32, epochs=3, scale=16.0, seed=1, backend=b) for b in ("numpy", "jax", "torch")}
    for b in ("jax", "torch"):
        for k, v in runs["numpy"].params.items():
            np.testing.assert_allclose(runs[b].params[k], v, rtol=1e-9, atol=1e-12, err_msg=f"{b} {k}")


def test_a_model_with_dropout_predicts_exports_and_reports_without_it(tmp_path):
    from symbackprop import load
    from symbackprop.export import export
    from symbackprop.render.report import render_html

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = train("3-16:relu:dropout=0.3-1:logistic", X, y, "binary_cross_entropy", batch_size=16, epochs=30,
                  seed=4)
    assert model.score(X, y)["accuracy"] > 0.9
    first = model.predict_proba(X[:10])
    np.testing.assert_array_equal(model.predict_proba(X[:10]), first)  # no mask at prediction: deterministic
    model.save(tmp_path / "m.json")
    again = load(tmp_path / "m.json")
    assert again.network.spec == "3-16:relu:dropout=0.3-1:logistic"
    np.testing.assert_allclose(again.predict_proba(X[:10]), first, rtol=1e-12)
    [path] = export(model, "numpy", tmp_path, "dropped")
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - the module we just exported
    np.testing.assert_allclose(namespace["predict_rows"](X[:10]), first, rtol=1e-12)
    page = render_html(derive(model.network.eval()), model)
    assert "M1" not in page.replace("M1/", "")  # the report of a model shows the network as it predicts
    spec_page = render_html(derive(model.network))
    assert ">M1</text>" in spec_page  # a spec's report draws the mask as an input


def digits_csv(tmp_path):
    """scikit-learn's digits as a CSV with a header (the pixels 0-16, then the digit)."""
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    X, y = datasets.load_digits(return_X_y=True)
    csv = tmp_path / "digits.csv"
    np.savetxt(csv, np.column_stack([X, y]), delimiter=",", fmt="%d",
               header=",".join([f"p{i}" for i in range(64)] + ["digit"]), comments="")
    return csv, X, y


def test_digits_with_layernorm_dropout_and_a_residual_connection(run_cli, tmp_path):
    csv, _, _ = digits_csv(tmp_path)
    code, out, err = run_cli("train", csv, "--net", "64-128:layernorm:relu:dropout=0.1-128:relu:residual-10:softmax",
                             "--batch-size", "32", "--epochs", "40", "--lr", "0.05")  # the command
    assert code == 0, err
    assert float(out.split("test accuracy:")[1].split()[0]) >= 0.96



def test_running_statistics_follow_batchnorm1d():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    from symbackprop.backends import numpy_module
    from symbackprop.layers.batchnorm import running_updates

    net = parse_spec("3-4:batchnorm:relu-1:logistic")
    params, X, _ = random_problem(net, np.random.default_rng(2), 6)
    params.update(rmean1=np.zeros((4, 1)), rvar1=np.ones((4, 1)))
    bn = torch.nn.BatchNorm1d(4, eps=1e-5, momentum=0.1, dtype=torch.float64)
    Z = params["W1"] @ X + params["B1"]
    bn.train()
    for _ in range(3):
        bn(torch.tensor(Z.T))
        params.update(running_updates(net)(params, numpy_module(net).forward(params, X), 6))
    np.testing.assert_allclose(params["rmean1"][:, 0], bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(params["rvar1"][:, 0], bn.running_var.numpy(), rtol=1e-12)


def test_batchnorm_derives_over_the_batch_and_refuses_what_has_no_batch(run_cli):
    code, out, _ = run_cli("derive", "3-4:batchnorm:relu-2:softmax")
    assert code == 0
    assert ("dN1_dZ1 = gamma1*(-Xhat1_k*Xhat1_l/m + KroneckerDelta(k, l) - 1/m)/sigma1   "
            "[per unit: m×m, over the batch, 4×1]") in out
    assert "(means over the batch)" in out and "proven against the per-entry derivation by SymPy at batch sizes 1-3" \
        in out
    code, _, err = run_cli("derive", "3-4:batchnorm:relu-2:softmax", "--entries")
    assert code == 2 and "batchnorm averages over the batch" in err
    X = np.random.default_rng(0).normal(size=(65, 3))
    y = (X[:, 0] > 0).astype(int)
    for options, message in (({"iterations": 10}, "trains mini-batches"),
                             ({"batch_size": 1, "epochs": 1}, "batch of 1"),
                             ({"batch_size": 32, "epochs": 1}, "leaves a batch of 1")):
        with pytest.raises(SymbackpropError, match=message):
            train("3-4:batchnorm:relu-1:logistic", X, y, **options)
    with pytest.raises(SymbackpropError, match="statistics are over a batch"):
        derive("3-4:batchnorm:relu-1:logistic").compile("numba")


def test_a_batchnorm_model_predicts_with_its_running_statistics(run_cli, tmp_path):
    from symbackprop import load
    from symbackprop.export import export

    csv, X, _ = digits_csv(tmp_path)
    code, out, err = run_cli("train", csv, "--net", "64-64:batchnorm:relu-10:softmax", "--batch-size", "32",
                             "--epochs", "40", "--lr", "0.05", "--out", tmp_path / "bn.json")  # the command
    assert code == 0, err
    assert float(out.split("test accuracy:")[1].split()[0]) >= 0.96
    model = load(tmp_path / "bn.json")
    p = model.params
    assert np.any(p["rmean1"] != 0) and np.any(p["rvar1"] != 1)
    Z = p["W1"] @ X[:5].T + p["B1"]
    N = p["gamma1"] * (Z - p["rmean1"]) / np.sqrt(p["rvar1"] + 1e-5) + p["beta1"]
    Z2 = p["W2"] @ np.maximum(N, 0) + p["B2"]
    E = np.exp(Z2 - Z2.max(axis=0))
    np.testing.assert_allclose(model.predict_proba(X[:5]), (E / E.sum(axis=0)).T, rtol=1e-10)
    export(model, "c", tmp_path, "bn")
    if CC:
        subprocess.run([CC, *CFLAGS, "-o", "t", "test_bn.c", "bn.c", "-lm"], cwd=tmp_path, check=True)
        assert subprocess.run(["./t"], cwd=tmp_path, capture_output=True, text=True).stdout.startswith("OK")


def test_the_js_forward_pass_of_the_new_layers_predicts_like_the_model(tmp_path):
    import json
    import shutil

    node = shutil.which("node")
    if node is None:
        pytest.skip("no Node.js on this machine: the page's forward pass is checked in Chromium elsewhere")
    from symbackprop.backends import js_code, program_of

    rng = np.random.default_rng(6)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    model = train("3-4:batchnorm:tanh:dropout=0.2-4:layernorm:relu:residual-2:softmax", X, y, batch_size=16, epochs=5,
                  seed=1)
    program = program_of(model.network.eval())
    params = {k: np.asarray(v).tolist() for k, v in model.params.items()}
    script = tmp_path / "f.js"
    script.write_text(js_code.forward_js(program) + f"const P = {json.dumps(params)};\n"
                      f"const X = {json.dumps(X[:5].tolist())};\n"
                      "console.log(JSON.stringify(X.map(x => forward(P, x))));\n")
    run = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    np.testing.assert_allclose(np.array(json.loads(run.stdout)), model.predict_proba(X[:5]), rtol=1e-12)
