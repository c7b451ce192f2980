"""Exports, each verified by running it: the NumPy module, C99 (compiled with -Werror), and the web page."""

from __future__ import annotations

import html as htmllib
import importlib.util
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from networks import CORPUS, draw, ids
from test_report import CHROMIUM, FLAGS

from symbackprop import derive
from symbackprop.backends import per_sample_module
from symbackprop.demo import font_colour_data
from symbackprop.export import export
from symbackprop.train import init_params, train

CC = shutil.which("cc") or shutil.which("gcc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler (cc) on this machine; the C export checks are skipped")
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]


def import_file(path):
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def font_model():
    X, y = font_colour_data(800, seed=0)
    return train("3-3:relu-1:logistic", X, y, scale=255, iterations=60_000, lr=0.05, seed=1,
                 feature_names=["RED", "GREEN", "BLUE"])


@pytest.mark.parametrize("spec,cost", CORPUS, ids=ids())
def test_numpy_export_matches_the_compiled_gradients(spec, cost, tmp_path):
    d = derive(spec, cost)
    [path] = export(_spec_with_cost(spec, cost), "numpy", tmp_path, "net")
    source = path.read_text()
    imports = ["math", "numpy"] if "_erf(" in source else ["numpy"]  # math for erf's constants (README)
    assert re.findall(r"^(?:import|from) (\w+)", source, re.M) == imports
    module = import_file(path)
    params, X, Y = draw(d.network, np.random.default_rng(5), m=4)
    want_cost, want = d.compile("numba")(params, X, Y)
    for got_cost, got in (module.gradients(params, X.T, Y.T), module.columns_gradients(params, X, Y)):
        assert got_cost == pytest.approx(want_cost, rel=1e-12)  # samples as rows, or the derivation's columns
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-15)
    # 1-D biases, as init_params makes them and torch.nn.Linear holds them: gradients come back 1-D
    flat = {k: v.reshape(module.PARAM_SHAPES[k]) for k, v in params.items()}
    _, got = module.gradients(flat, X.T, Y.T)
    assert {k: g.shape for k, g in got.items()} == module.PARAM_SHAPES == {k: v.shape for k, v in
                                                                          module.init_params().items()}
    for k in want:
        np.testing.assert_allclose(got[k].reshape(want[k].shape), want[k], rtol=1e-12, atol=1e-15)


def _spec_with_cost(spec, cost):
    from symbackprop import parse_spec

    return parse_spec(spec, cost)


def test_numpy_export_of_a_model_predicts_like_the_model(font_model, tmp_path):
    [path] = export(font_model, "numpy", tmp_path, "font")
    module = import_file(path)
    rows = np.array([[255, 255, 255], [0, 0, 0], [30, 200, 90]], dtype=float)
    np.testing.assert_allclose(module.predict_rows(rows), font_model.predict_proba(rows), rtol=1e-12)
    # it runs in a plain interpreter, with nothing of symbackprop
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import font; "
            "print(repr(float(font.predict_rows([[0, 0, 0]])[0, 0])))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    assert float(out) == pytest.approx(float(font_model.predict_proba([[0, 0, 0]])[0, 0]), rel=1e-9)


def compile_and_run(tmp_path, sources, exe="prog"):
    subprocess.run([CC, *CFLAGS, "-o", str(tmp_path / exe), *map(str, sources), "-lm"], check=True,
                   capture_output=True, text=True)
    return subprocess.run([str(tmp_path / exe)], capture_output=True, text=True)


@needs_cc
@pytest.mark.parametrize("spec,cost,dtype", [("3-3:relu-1:logistic", "squared_error", "float64"),
                                             ("2-4:tanh-3:softmax", "cross_entropy", "float64"),
                                             ("3-2:softplus-2:logistic", "binary_cross_entropy", "float32")])
def test_c_export_compiles_with_werror_and_passes_its_harness(spec, cost, dtype, tmp_path):
    paths = export(_spec_with_cost(spec, cost), "c", tmp_path, "net", dtype=dtype)
    header = (tmp_path / "net.h").read_text()
    assert "bytes" in header and "per forward pass" in header
    body = (tmp_path / "net.c").read_text()
    assert "malloc" not in body and re.findall(r"#include <(\w+\.h)>", body) == ["math.h"]
    run = compile_and_run(tmp_path, [p for p in paths if p.suffix == ".c"])
    assert run.returncode == 0, run.stdout
    assert run.stdout.startswith("OK: 0 mismatches")


@needs_cc
def test_the_c_export_of_a_batchnorm_spec_draws_a_positive_running_variance(tmp_path):
    """Its harness's random running variance was N(0, 1): sqrt of a negative, NaN golden values that did not
    compile (found in round three)."""
    paths = export("2-3:batchnorm:relu-1:logistic", "c", tmp_path, "net")
    run = compile_and_run(tmp_path, [p for p in paths if p.suffix == ".c"])
    assert run.returncode == 0 and run.stdout.startswith("OK: 0 mismatches"), run.stdout


@needs_cc
def test_c_harness_fails_on_a_mismatch(tmp_path):
    export(_spec_with_cost("3-3:relu-1:logistic", "squared_error"), "c", tmp_path, "net")
    body = (tmp_path / "net.c").read_text()
    (tmp_path / "net.c").write_text(body.replace("return cost;", "return cost + 1e-3;", 1)
                                    .replace("g->B2[0][0] = ", "g->B2[0][0] = 0.5 + ", 1))
    run = compile_and_run(tmp_path, [tmp_path / "test_net.c", tmp_path / "net.c"])
    assert run.returncode == 1 and "MISMATCH dB2" in run.stdout


@needs_cc
def test_c_sgd_matches_the_python_trainer(tmp_path):
    net = derive("3-3:relu-1:logistic").network
    export(net, "c", tmp_path, "font")
    X, y = font_colour_data(300, seed=2)
    Xt, Y = (X / 255).T.copy(), y.reshape(1, -1).astype(float)
    params = init_params(net, np.random.default_rng(4), X=Xt)
    order = np.random.default_rng(4).integers(0, Xt.shape[1], size=20_000)
    arrays = [params[k].copy() for k in net.shapes()]
    assert per_sample_module(net).sgd(*arrays, Xt, Y, order, 0.05, len(order), np.zeros(1)) == -1

    def c_array(a):
        return "{" + ", ".join(repr(float(v)) for v in np.ravel(a)) + "}"

    init = ", ".join(f".{k} = {{{', '.join(c_array(row) for row in params[k])}}}" for k in net.shapes())
    driver = f"""#include <stdio.h>
#include "font.h"
static const double X[{Xt.shape[1]}][3] = {{{", ".join(c_array(col) for col in Xt.T)}}};
static const double Y[{Y.shape[1]}][1] = {{{", ".join("{" + repr(float(v)) + "}" for v in Y[0])}}};
static const int ORDER[{len(order)}] = {{{", ".join(map(str, order))}}};
int main(void) {{
    font_params p = {{{init}}};
    for (int s = 0; s < {len(order)}; ++s) font_sgd_step(&p, X[ORDER[s]], Y[ORDER[s]], 0.05);
    const double *w = &p.W1[0][0];
    for (unsigned i = 0; i < sizeof p / sizeof(double); ++i) printf("%.17g\\n", w[i]);
    return 0;
}}
"""
    (tmp_path / "driver.c").write_text(driver)
    run = compile_and_run(tmp_path, [tmp_path / "driver.c", tmp_path / "font.c"], "driver")
    c_weights = np.array([float(v) for v in run.stdout.split()])
    py_weights = np.concatenate([a.ravel() for a in arrays])
    np.testing.assert_allclose(c_weights, py_weights, rtol=1e-9, atol=1e-12)


PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)), true);
window.addEventListener('load', () => {
  const picker = document.getElementById('colour');
  const seen = [];
  for (const hex of ['#ffffff', '#000000', '#1e64c8']) {
    picker.value = hex;
    picker.dispatchEvent(new Event('input'));
    seen.push([document.getElementById('prediction').textContent, document.getElementById('sample').style.color]);
  }
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify({seen: seen, errors: window.__errors});
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (Debian: apt-get install chromium)")
def test_js_page_predicts_like_the_predict_command(font_model, tmp_path, run_cli):
    font_model.save(tmp_path / "m.json")
    [page] = export(font_model, "js", tmp_path, "font")
    text = page.read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1))
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          probed.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stderr[-2000:]
    result = json.loads(htmllib.unescape(found.group(1)))
    assert result["errors"] == []
    for (shown, ink), rgb in zip(result["seen"], ([255, 255, 255], [0, 0, 0], [30, 100, 200])):
        code, out, _ = run_cli("predict", tmp_path / "m.json", *map(str, rgb))
        assert code == 0 and shown == out.strip()
        assert ink == ("rgb(0, 0, 0)" if shown.startswith("class 1") else "rgb(255, 255, 255)")


def test_export_command_and_its_errors(run_cli, tmp_path, font_model):
    code, out, _ = run_cli("export", "3-3:relu-1:logistic", "--to", "numpy", "--out", tmp_path, "--name", "tb")
    assert code == 0 and (tmp_path / "tb.py").exists()
    code, _, err = run_cli("export", "3-3:relu-1:logistic", "--to", "js", "--out", tmp_path)
    assert code == 2 and "js export needs a trained MODEL.json" in err
    code, _, err = run_cli("export", "3-3:relu-1:logistic", "--to", "c", "--name", "bad-name", "--out", tmp_path)
    assert code == 2 and "--name must be a C/Python identifier" in err
    code, _, err = run_cli("export", "3-3:relu-1:logistic", "--to", "c", "--out", tmp_path / "new" / "dir")
    assert code == 0 and (tmp_path / "new" / "dir" / "network.c").exists()  # the folder is made
    (tmp_path / "file").write_text("")
    code, _, err = run_cli("export", "3-3:relu-1:logistic", "--to", "c", "--out", tmp_path / "file")
    assert code == 2 and err.count("\n") == 1 and "cannot make the folder" in err


@needs_cc
def test_c_predict_with_the_embedded_weights_answers_like_the_model(font_model, tmp_path):
    export(font_model, "c", tmp_path, "font")
    (tmp_path / "main.c").write_text("""#include <stdio.h>
#include "font.h"
int main(void) {
    const font_real colours[3][3] = {{255, 255, 255}, {0, 0, 0}, {30, 100, 200}};
    for (int k = 0; k < 3; ++k) {
        font_real out[1];
        font_predict(&font_weights, colours[k], out);
        printf("%.17g\\n", out[0]);
    }
    return 0;
}
""")
    run = compile_and_run(tmp_path, [tmp_path / "main.c", tmp_path / "font.c"], "main")
    want = font_model.predict_proba(np.array([[255, 255, 255], [0, 0, 0], [30, 100, 200]], dtype=float))[:, 0]
    np.testing.assert_allclose([float(v) for v in run.stdout.split()], want, rtol=1e-12)


def test_js_page_for_other_models_has_a_field_per_feature(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(100, 2))
    model = train("2-3:tanh-1:identity", X, X[:, 0] - X[:, 1], iterations=2000, feature_names=["left", "right"])
    [page] = export(model, "js", tmp_path, "reg")
    text = page.read_text()
    assert text.count('class="feature"') == 2 and "left" in text and "right" in text
    assert "function forward(P, x)" in text and "<script src" not in text
