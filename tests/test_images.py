"""Image networks (issue 18): convolution, pooling, flatten — derived, proven, compiled on every array backend,
trained, and refused in one line where a path knows only matrices."""

from __future__ import annotations

import json

import numpy as np
import pytest
from networks import assert_agrees, random_image_corpus, torch_reference
from test_export import compile_and_run, needs_cc

from symbackprop import Conv2d, Dense, Flatten, MaxPool2d, Network, derive, load, parse_spec, train
from symbackprop.errors import SymbackpropError
from symbackprop.layers import conv, pool

CORPUS = random_image_corpus(18)
FIXED = [("1x8x8-conv8k3p1:relu-maxpool2-flatten-10:softmax", "cross_entropy"),
         ("2x9x7-conv3k3s2p2:tanh-conv4k2:relu-avgpool2s1-flatten-5:softmax", "cross_entropy"),
         ("3x10x10-conv4k5p1:relu-maxpool3s2-conv2k1:nobias-gap-4:relu-3:softmax", "cross_entropy"),
         # pools whose windows tile the image (the patches laid back side by side), with rows the floor drops
         ("1x7x9-conv2k3p1:relu-maxpool2-flatten-3:softmax", "cross_entropy"),
         ("2x10x8-avgpool3-conv2k2:relu-flatten-2:softmax", "cross_entropy")]
BACKENDS = ["numpy", "jax", "torch"]


def _problem(net, seed: int, m: int = 3):
    from symbackprop.draws import random_problem

    params, X, Y = random_problem(net, np.random.default_rng(seed), m)
    return {k: v * 0.5 for k, v in params.items()}, X, Y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec,cost", FIXED + CORPUS, ids=[s for s, _ in FIXED + CORPUS])
def test_gradients_agree_with_pytorch_float64(spec, cost, backend):
    if backend != "numpy":
        pytest.importorskip(backend, reason=f"{backend} is not installed (.ci/run installs it)")
    d = derive(spec, cost)
    params, X, Y = _problem(d.network, seed=len(spec))
    want_cost, want = torch_reference(d.network, params, X, Y)
    got_cost, got = d.compile(backend)(params, X, Y)
    assert_agrees(got_cost, got, want_cost, want)


def test_max_pool_ties_go_to_the_first_maximum_as_pytorch():
    d = derive("1x4x4-maxpool2-flatten-2:identity")
    X = np.zeros((16, 1))  # every window's entries tie
    W = np.arange(8.0).reshape(2, 4)
    params = {"W1": W, "B1": np.zeros((2, 1))}
    _, want = torch_reference(d.network, params, X, np.ones((2, 1)))
    for backend in ("numpy", "torch"):
        _, got = d.compile(backend)(params, X, np.ones((2, 1)))
        np.testing.assert_allclose(np.asarray(got["W1"]), want["W1"], atol=1e-12)


@pytest.mark.parametrize("k,stride,pad", [((3, 3), 1, 1), ((2, 2), 2, 0), ((3, 3), 2, 2), ((1, 1), 1, 0),
                                          ((2, 2), 1, 1)])
def test_the_convolution_closed_forms_are_proven_by_sympy(k, stride, pad):
    assert conv.vjp_holds(k, stride, pad, size=max(k) + 2)


def test_the_prover_rejects_a_wrong_closed_form(monkeypatch):
    """The proof is not vacuous: with the kernel flipped in the forward pass, the stated forms no longer hold."""
    right = conv.correlate

    def flipped(W, X, stride, pad):
        return right([[[row[::-1] for row in plane[::-1]] for plane in out] for out in W], X, stride, pad)

    monkeypatch.setattr(conv, "correlate", flipped)
    assert not conv.vjp_holds.__wrapped__((2, 2), 1, 0, size=3)


@pytest.mark.parametrize("kind,k,stride", [("max", 2, 2), ("max", 3, 1), ("avg", 2, 2), ("avg", 3, 2)])
def test_the_pooling_closed_forms_are_proven_by_sympy(kind, k, stride):
    assert pool.pool_vjp_holds(kind, k, stride, size=k + stride + 1)


def test_derive_prints_each_rule_and_its_proof(run_cli):
    code, out, _ = run_cli("derive", "1x8x8-conv8k3p1:relu-maxpool2-flatten-10:softmax")
    assert code == 0
    assert "dZ1_dW1 = X[i, a + y - 1, b + x - 1]   [conv-weights, 8×1×3×3]" in out
    assert "dC_dW1[o,i,a,b] = Σ_n,y,x dC_dZ1[o,y,x]·X[i, 1·y+a−1, 1·x+b−1]" in out
    assert "dC_dW1 = Σ_yxn dC_dZ1[oyxn]·patches1[iabyxn] → [oiab]" in out
    assert "patches1 = window_3×3(X, stride 1, padding 1)   (1×3×3×8×8×1)" in out
    assert "dC_dA1 gets dC_dP1[c,y,x] at each window's first maximum" in out
    assert out.count("proven by SymPy") == 2 and "NOT proven" not in out
    code, out, _ = run_cli("derive", "1x9x9-conv2k4s2-avgpool2-flatten-2:softmax")
    assert "the last 1 padded rows are never read (⌊(9 + 2·0 − 4)/2⌋ + 1 = 3)" in out
    assert "transposed convolution" not in out  # the input needs no gradient
    code, out, _ = run_cli("derive", "1x9x9-conv2k4s2-avgpool2-flatten-2:softmax", "--format", "json")
    assert code == 0 and len(json.loads(out)["closed_forms"]) == 2


def test_latex_and_markdown_print_the_tensor_vocabulary(run_cli):
    code, out, _ = run_cli("derive", "1x8x8-conv8k3p1:relu-maxpool2-flatten-10:softmax", "--format", "latex")
    assert code == 0 and r"\operatorname{window}_{3\times 3}\left(X;\ s{=}1,\ p{=}1\right)" in out
    assert r"\textstyle\sum_{yxn}" in out and r"\operatorname{unwindow}_{2\times 2}" in out
    code, out, _ = run_cli("derive", "1x8x8-conv8k3p1:relu-maxpool2-flatten-10:softmax", "--format", "markdown")
    assert code == 0 and "## Windows the backward pass reads" in out


def test_the_python_layers_and_the_spec_are_the_same_network():
    net = Network((1, 8, 8), [Conv2d(8, 3, padding=1, activation="relu"), MaxPool2d(2), Flatten(),
                              Dense(10, "softmax")])
    assert net.spec == "1x8x8-conv8k3p1:relu-maxpool2-flatten-10:softmax" and parse_spec(net.spec) == net
    assert net.shapes() == {"W1": (8, 1, 3, 3), "B1": (8,), "W2": (10, 128), "B2": (10, 1)}
    assert Network((3, 5, 5), [Conv2d(2, 3, bias=False), Flatten(), Dense(1, "logistic")]).shapes() == \
        {"W1": (2, 3, 3, 3), "W2": (1, 18), "B2": (1, 1)}


BAD = [("1x8x8-conv2k9-flatten-2:softmax", "its 9×9 kernel is larger than its input's padded height, 8 + 2·0 = 8"),
       ("1x8x8-conv2k3s0-flatten-2:softmax", "Conv2d stride must be a whole number from 1"),
       ("1x8x8-conv2k3-2:softmax", "is dense, but its input is a 2×6×6 image: put flatten (or gap) before it"),
       ("8-maxpool2-2:softmax", "takes an image, but its input is 8 features; declare the input as CxHxW"),
       ("1x8x8-convv2k3-flatten-2:softmax", "did you mean 'conv'?"),
       ("1x4x4-maxpool5-flatten-2:softmax", "its 5×5 window is larger than its 4×4 input"),
       ("1x8x8-conv2k3-flatten", "must be a dense layer"),
       ("1x8x8-conv2k3:softmax-flatten-2:softmax", "for the output layer only"),
       ("1x8x0-flatten-2:softmax", "image sizes must be from 1")]


@pytest.mark.parametrize("spec,message", BAD)
def test_bad_image_specs_are_one_line(run_cli, spec, message):
    code, out, err = run_cli("derive", spec)
    assert code == 2 and not out and err.count("\n") == 1 and message in err and "Traceback" not in err


def test_negative_padding_is_refused_in_python():
    with pytest.raises(SymbackpropError, match="padding must be a whole number from 0"):
        Conv2d(2, 3, padding=-1)


@pytest.mark.parametrize("argv,message", [
    (["derive", "{spec}", "--entries"], "the per-entry form"),
    (["derive", "{spec}", "--format", "latex", "--entries"], "the per-entry form"),
    (["export", "{spec}", "--to", "js", "--out", "{tmp}"], "export --to js"),
    (["check", "{spec}", "examples/textbook_backprop.py:backprop"], "check (your own backprop)"),
    (["train", "{csv}", "--net", "{spec}"], "(give --batch-size)"),
    (["train", "{csv}", "--net", "{spec}", "--backend", "numba", "--batch-size", "4"], "choose --backend numpy"),
])
def test_matrix_only_paths_refuse_image_networks_in_one_line(run_cli, tmp_path, argv, message):
    spec = "1x2x2-conv1k1-flatten-1:logistic"
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,c,d,label\n" + "\n".join(f"{i},{i % 3},{i % 5},{i % 2},{i % 2}" for i in range(12)) + "\n")
    code, out, err = run_cli(*[a.format(spec=spec, tmp=tmp_path, csv=csv) for a in argv])
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err


def test_a_csv_that_does_not_fit_the_image_names_the_numbers(run_cli, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,c,label\n1,2,3,0\n4,5,6,1\n")
    code, out, err = run_cli("train", csv, "--net", "1x2x2-conv1k1-flatten-2:softmax", "--batch-size", "2")
    assert code == 2 and "has 3 feature columns" in err and "a 1×2×2 image: its C·H·W = 4 features" in err


def test_an_image_model_saves_loads_and_predicts_as_trained(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2 * 5 * 5))
    y = (X[:, :25].sum(axis=1) > X[:, 25:].sum(axis=1)).astype(int)
    model = train("2x5x5-conv3k3p1:relu-avgpool2-flatten-1:logistic", X, y, batch_size=8, epochs=5, lr=0.1)
    model.save(tmp_path / "m.json")
    again = load(tmp_path / "m.json")
    assert again.params["W1"].shape == (3, 2, 3, 3)
    np.testing.assert_allclose(again.predict_proba(X), model.predict_proba(X), atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_trains_the_same_weights(backend):
    if backend != "numpy":
        pytest.importorskip(backend, reason=f"{backend} is not installed (.ci/run installs it)")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 16))
    y = rng.integers(0, 3, size=40)
    spec = "1x4x4-conv2k3p1:relu-maxpool2-flatten-3:softmax"
    ref = train(spec, X, y, batch_size=8, epochs=3, lr=0.1, backend="numpy")
    got = train(spec, X, y, batch_size=8, epochs=3, lr=0.1, backend=backend)
    for name, value in ref.params.items():
        np.testing.assert_allclose(got.params[name], value, rtol=1e-7, atol=1e-9, err_msg=name)


@pytest.mark.slow  # an end-to-end training: pytest -m slow runs it
def test_digits_as_images_reach_098_through_the_cli(run_cli, tmp_path):
    """The README's command: a small conv net on scikit-learn's digits as 1×8×8 images, held-out third."""
    from test_norms import digits_csv

    csv, _, _ = digits_csv(tmp_path)
    code, out, err = run_cli("train", csv, "--net",
                             "1x8x8-conv32k3p1:relu-conv32k3p1:relu-maxpool2-flatten-64:relu-10:softmax",
                             "--batch-size", "32", "--epochs", "40", "--lr", "0.05", "--standardize")
    assert code == 0, err
    accuracy = float(out.strip().splitlines()[-1].split(":")[1])
    assert accuracy >= 0.98, out


def _image_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2 * 6 * 5))
    model = train("2x6x5-conv3k3p1:relu-maxpool2-conv2k2:tanh-flatten-3:softmax", X, rng.integers(0, 3, 40),
                  batch_size=8, epochs=2, lr=0.1)
    return model, X


def _import(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_numpy_export_takes_images_as_rows_samples_first_or_columns(tmp_path):
    from symbackprop.export import export

    model, X = _image_model()
    module = _import(export(model, "numpy", tmp_path, "img")[0])
    np.testing.assert_allclose(module.predict_rows(X[:5]), model.predict_proba(X[:5]), atol=1e-12)
    images = X[:5].reshape(5, 2, 6, 5)  # (N, C, H, W), as the frameworks give images
    want = module.predict(module.PARAMS, X[:5])  # rows of C·H·W features
    np.testing.assert_allclose(module.predict(module.PARAMS, images), want)
    np.testing.assert_allclose(module.columns_predict(module.PARAMS, X[:5].T), want.T)  # the derivation's columns
    np.testing.assert_allclose(module.predict_proba(module.PARAMS, images), want)


def test_the_torch_export_of_an_image_network_backpropagates_to_its_input(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    F = torch.nn.functional
    from symbackprop.export import export

    model, X = _image_model()
    module = _import(export(model, "torch", tmp_path, "img_torch")[0])
    images = X[:5].reshape(5, 2, 6, 5)
    weights = torch.arange(15.0, dtype=torch.float64).reshape(5, 3)
    x = torch.tensor(images, requires_grad=True)
    out = module.trained_model(torch.float64).predict_proba(x)
    (out * weights).sum().backward()
    p = {k: torch.tensor(v, dtype=torch.float64) for k, v in model.params.items()}
    ref = torch.tensor(images, requires_grad=True)
    h = F.max_pool2d(F.relu(F.conv2d(ref, p["W1"], p["B1"], padding=1)), 2)
    h = torch.tanh(F.conv2d(h, p["W2"], p["B2"])).flatten(1)
    want = torch.softmax(h @ p["W3"].T + p["B3"][:, 0], dim=1)
    (want * weights).sum().backward()
    assert torch.allclose(out, want, atol=1e-12) and torch.allclose(x.grad, ref.grad, atol=1e-12)
    np.testing.assert_allclose(module.predict_rows(X[:5]), model.predict_proba(X[:5]), atol=1e-12)


def test_the_jax_export_of_an_image_network_has_the_derived_vjp(tmp_path):
    jax = pytest.importorskip("jax", reason="JAX is not installed (.ci/run installs it)")
    import jax.numpy as jnp
    from jax import lax

    from symbackprop.backends import x64
    from symbackprop.export import export

    model, X = _image_model()
    module = _import(export(model, "jax", tmp_path, "img_jax")[0])
    images = X[:5].reshape(5, 2, 6, 5)
    with x64(True):
        P = {k: jnp.asarray(v) for k, v in module.PARAMS.items()}
        weights = jnp.arange(15.0).reshape(3, 5)

        def ours(x):
            return jnp.sum(jax.nn.softmax(module.network(P, x), axis=1).T * weights)  # network gives logits

        def reference(x):
            def conv(a, W, B, pad):
                return lax.conv_general_dilated(a, W, (1, 1), [(pad, pad)] * 2,
                                                dimension_numbers=("NCHW", "OIHW", "NCHW")) + B[None, :, None, None]
            h = jax.nn.relu(conv(x, P["W1"], P["B1"], 1))
            h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
            h = jnp.tanh(conv(h, P["W2"], P["B2"], 0)).reshape(x.shape[0], -1)
            return jnp.sum(jax.nn.softmax(h @ P["W3"].T + P["B3"][:, 0], axis=1).T * weights)

        x = jnp.asarray(images)
        np.testing.assert_allclose(np.asarray(jax.grad(ours)(x)), np.asarray(jax.grad(reference)(x)), atol=1e-12)
        assert abs(float(ours(x)) - float(reference(x))) < 1e-10


C_SPECS = FIXED + [sc for k, sc in enumerate(CORPUS) if k % 3 == 0]


@needs_cc
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec,cost", C_SPECS, ids=[s for s, _ in C_SPECS])
def test_the_c_export_of_an_image_network_compiles_with_werror_and_passes_its_harness(spec, cost, dtype, tmp_path):
    from symbackprop.export import export

    paths = export(parse_spec(spec, cost), "c", tmp_path, "net", dtype=dtype)
    body = (tmp_path / "net.c").read_text()
    assert "malloc" not in body and "/* patches1 = window_" in body
    run = compile_and_run(tmp_path, [p for p in paths if p.suffix == ".c"])
    assert run.returncode == 0 and run.stdout.startswith("OK: 0 mismatches"), run.stdout[-2000:]


@needs_cc
def test_c_predict_of_a_trained_image_model_answers_like_the_model(tmp_path):
    from symbackprop.export import export

    model, X = _image_model()
    export(model, "c", tmp_path, "img")
    rows = ", ".join("{" + ", ".join(repr(float(v)) for v in row) + "}" for row in X[:3])
    (tmp_path / "main.c").write_text(f"""#include <stdio.h>
#include "img.h"
int main(void) {{
    const img_real rows[3][60] = {{{rows}}};
    for (int k = 0; k < 3; ++k) {{
        img_real out[3];
        img_predict(&img_weights, rows[k], out);
        for (int i = 0; i < 3; ++i) printf("%.17g\\n", out[i]);
    }}
    return 0;
}}
""")
    run = compile_and_run(tmp_path, [tmp_path / "main.c", tmp_path / "img.c"], "main")
    np.testing.assert_allclose(np.array(run.stdout.split(), dtype=float).reshape(3, 3), model.predict_proba(X[:3]),
                               rtol=1e-12, atol=1e-15)


def test_the_report_of_an_image_network_shows_the_derivation_and_a_worked_image(run_cli, tmp_path):
    code, out, err = run_cli("report", "1x6x6-conv2k3p1:relu-maxpool2-flatten-3:softmax", "--out", tmp_path / "r.html")
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    for text in ("conv2k3p1:relu", "2×6×6", "Forward values the backward pass reads again", "proven by SymPy",
                 "<mi>window</mi><mn>3×3</mn>", "<munder><mo>Σ</mo><mi>yxn</mi></munder>", "A worked example"):
        assert text in page, text
    assert "<script" not in page
    code, _, err = run_cli("report", "1x6x6-conv2k3p1:relu-maxpool2-flatten-3:softmax", "--format", "markdown",
                           "--out", tmp_path / "r.md")
    assert code == 0 and "values)}" in (tmp_path / "r.md").read_text()


def test_json_of_an_image_network_parses_back_with_its_functions_table(run_cli):
    import sympy as sp

    code, out, _ = run_cli("derive", "1x8x8-conv8k3p1:relu-maxpool2-flatten-10:softmax", "--format", "json")
    doc = json.loads(out)
    assert doc["functions"]["X"] == "IndexedBase('X')"
    functions = {name: sp.sympify(text) for name, text in doc["functions"].items()}
    parsed = {name: sp.sympify(text, locals=functions) for name, text in doc["local"].items()}
    assert parsed["dZ1_dW1"].atoms(sp.Indexed)
    assert str(parsed["dP1_dA1"]) == "KroneckerDelta(a, a_max)*KroneckerDelta(b, b_max)"
