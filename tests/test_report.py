"""The report: HTML with MathML and SVG checked in a real browser, Markdown, and the worked example's numbers."""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from symbackprop import derive
from symbackprop.demo import font_colour_data
from symbackprop.render.report import render_html, worked_example
from symbackprop.train import train

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (Debian: apt-get install "
                                                            "chromium); the browser checks are skipped")
MATH_FONT = shutil.which("fc-list") and "Latin Modern Math" in subprocess.run(
    ["fc-list"], capture_output=True, text=True).stdout  # Debian's fonts-lmodern, which .ci/run installs
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || (e.target && e.target.src))), true);
console.error = (...a) => window.__errors.push(a.join(' '));
window.addEventListener('load', () => {
  const sizes = s => Array.from(document.querySelectorAll(s)).map(e => {
    const r = e.getBoundingClientRect(); return [r.width, r.height]; });
  const pre = document.createElement('pre');
  pre.id = 'probe';
  const brackets = Array.from(document.querySelectorAll('mtable')).filter(t => t.previousElementSibling &&
    t.previousElementSibling.textContent === '[').map(t => [t.previousElementSibling.getBoundingClientRect().height,
    t.getBoundingClientRect().height]);
  const picture = document.querySelector('svg[aria-label^="the network"]');
  const texts = picture ? Array.from(picture.querySelectorAll('text')).map(e => {
    const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom, e.textContent]; }) : [];
  const skips = picture ? picture.querySelectorAll('path.skip').length : 0;
  pre.textContent = JSON.stringify({math: sizes('math'), svg: sizes('svg'), brackets: brackets,
                                    texts: texts, skips: skips, errors: window.__errors});
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def font_model():
    X, y = font_colour_data(600, seed=0)
    return train("3-3:relu-1:logistic", X, y, scale=255, iterations=30_000, lr=0.05, seed=1,
                 validation=(X[:100], y[:100]), feature_names=["RED", "GREEN", "BLUE"])


def browse(page, tmp_path, name):
    """Open the page in headless Chromium: a screenshot, and the probe's measurements."""
    probed = tmp_path / f"{name}-probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1))
    profile = tmp_path / f"profile-{name}"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, timeout=120)
    shot = tmp_path / f"{name}.png"
    plain = tmp_path / f"{name}.html"
    plain.write_text(page)
    run = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}-2", "--window-size=1000,1400",
                          f"--screenshot={shot}", "--hide-scrollbars", plain.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stderr[-2000:]
    result = json.loads(htmllib.unescape(found.group(1)))
    console = [line for line in (dom.stderr + run.stderr).splitlines() if ":CONSOLE(" in line or "Uncaught" in line]
    return result, shot, console


@needs_browser
@pytest.mark.parametrize("which", ["reference", "font model"])
def test_report_renders_in_a_real_browser(which, font_model, tmp_path):
    if which == "reference":
        page = render_html(derive("1-1:relu-1:logistic"))
    else:
        X, y = font_colour_data(300, seed=5)
        page = render_html(derive(font_model.network), font_model, data=(X, "colours", np.arange(2, 302), y))
    result, shot, console = browse(page, tmp_path, which.replace(" ", "-"))
    assert result["errors"] == [] and console == []
    if which == "font model":  # the worked example's gradients are not zero
        for values in re.findall(r'data-values="([^"]*)"', page):
            assert np.all(np.asarray(json.loads(htmllib.unescape(values))) != 0)
    if MATH_FONT and which == "font model":  # a bracket as tall as its matrix (with no math font, one line high)
        assert result["brackets"] and all(b >= 0.8 * t for b, t in result["brackets"]), result["brackets"]
    assert len(result["math"]) > 30 and all(w > 0 and h > 0 for w, h in result["math"])
    assert len(result["svg"]) >= (2 if which == "reference" else 4)
    assert all(w > 0 and h > 0 for w, h in result["svg"])
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    target = os.environ.get("SYMBACKPROP_SCREENSHOT_DIR")
    if target:  # how docs/report-*.png were made
        shutil.copy(shot, os.path.join(target, f"report-{which.replace(' ', '-')}.png"))


@needs_browser
def test_the_network_picture_has_no_overlapping_captions_and_draws_every_skip(tmp_path):
    """Issue 22, item 6: as Chromium lays it out, no two captions of the layered picture overlap, and each
    residual layer's skip edge is drawn."""
    spec = "4-8:layernorm:relu:dropout=0.2-8:relu:residual-3:softmax"
    result, _, console = browse(render_html(derive(spec)), tmp_path, "captions")
    assert result["errors"] == [] and console == []
    boxes = result["texts"]
    assert any("dropout 0.2" in t for *_, t in boxes) and any(t == "residual" for *_, t in boxes)
    for i, (l1, t1, r1, b1, s1) in enumerate(boxes):
        for l2, t2, r2, b2, s2 in boxes[i + 1:]:
            assert r1 <= l2 or r2 <= l1 or b1 <= t2 or b2 <= t1, f"{s1!r} overlaps {s2!r}"
    assert result["skips"] == 1
    two = "3-4:tanh-4:relu:residual-4:tanh:residual-2:softmax"
    assert render_html(derive(two)).count('class="skip"') == 2


def test_a_spec_only_report_works_a_lively_sample_and_says_so():
    from symbackprop.render.report import worked_example

    ex = worked_example(derive("4-8:layernorm:relu:dropout=0.2-8:relu:residual-3:softmax"))
    assert ex["why"].startswith("Random weights and sample (seed ") and "ReLU units are active" in ex["why"]
    active = sum(int((ex["values"][k] > 0).sum()) for k in ("N1", "Z2"))
    assert active >= 12, active  # of 16; a plain seed-0 draw had 7 of 8 second-layer units at 0
    page = render_html(derive("4-8:layernorm:relu:dropout=0.2-8:relu:residual-3:softmax"))
    assert "Random weights and sample" in page and "mean(Σ" not in htmllib.unescape(re.sub("<[^>]+>", "", page))
    assert "M/(1" not in htmllib.unescape(re.sub("<[^>]+>", "", page))


def test_report_is_self_contained(font_model):
    page = render_html(derive(font_model.network), font_model)
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/", "")
    assert "https://" not in page
    assert page.count("<svg") >= 4 and "<math" in page and "foreignObject" in page


@pytest.mark.parametrize("spec,cost", [("1-1:relu-1:logistic", "squared_error"),
                                       ("3-3:relu-1:logistic", "squared_error"),
                                       ("2-4:tanh-3:softmax", "cross_entropy")])
def test_worked_example_numbers_match_the_compiled_gradients(spec, cost):
    d = derive(spec, cost)
    ex = worked_example(d, seed=3)
    page = render_html(d, seed=3)
    shown = {m.group(1): np.array(json.loads(htmllib.unescape(m.group(2))))
             for m in re.finditer(r'class="gradient" data-name="(\w+)" data-values="([^"]*)"', page)}
    cost_value, grads = d.compile("numba")(ex["params"], ex["x"], ex["y"])
    assert set(shown) == set(grads)
    for k in grads:
        np.testing.assert_allclose(shown[k], grads[k], rtol=1e-12, atol=1e-15)
    assert float(ex["values"]["C"]) == pytest.approx(cost_value, rel=1e-12)


def test_scalar_chain_products_equal_the_gradients():
    d = derive("1-1:relu-1:logistic")
    ex = worked_example(d, seed=5)
    v = ex["values"]
    for c in d.chains.values():
        product = np.prod([float(np.ravel(v[f])[0]) for f in c.factors])
        assert product == pytest.approx(float(v[c.name][0, 0]), rel=1e-12)


def test_report_command_html_markdown_and_errors(run_cli, tmp_path, font_model):
    code, out, _ = run_cli("report", "--out", tmp_path / "r.html")
    assert code == 0 and (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    code, _, _ = run_cli("report", "2-3:tanh-2:softmax", "--cost", "cross_entropy", "--format", "markdown",
                         "--out", tmp_path / "r.md")
    md = (tmp_path / "r.md").read_text()
    assert code == 0 and "$$" in md and "## A worked example" in md
    font_model.save(tmp_path / "m.json")
    code, _, _ = run_cli("report", "--model", tmp_path / "m.json", "--out", tmp_path / "m.html")
    assert code == 0 and "What it learned" in (tmp_path / "m.html").read_text()
    (tmp_path / "old.html").write_text("keep me")
    code, _, err = run_cli("report", "3-3:rleu-1:logistic", "--out", tmp_path / "old.html")
    assert code == 2 and "did you mean 'relu'" in err
    assert (tmp_path / "old.html").read_text() == "keep me"
    code, _, err = run_cli("report", "--model", tmp_path / "missing.json")
    assert code == 2 and "no such model file" in err


def test_derivation_displays_in_jupyter():
    d = derive("3-3:relu-1:logistic")
    assert "<math" in d._repr_html_()
    assert d._repr_latex_().startswith("$$\\begin{aligned}")


def test_two_input_model_report_shows_decision_regions(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(200, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int) + 2 * (X[:, 0] > 0.5)
    model = train("2-6:tanh-4:softmax", X, y, "cross_entropy", batch_size=16, epochs=20, lr=0.3, seed=0,
                  standardize=True, validation=(X[:50], y[:50]), feature_names=["width", "height"])
    page = render_html(derive(model.network), model, data=(X, "points.csv", np.arange(2, 202), y))
    assert "decision regions over the two inputs" in page
    assert page.count("<rect") > 60 * 60  # one cell per grid point
    regions = page[page.index('aria-label="decision regions'):]
    regions = regions[:regions.index("</svg>")]
    assert ">width</text>" in regions and ">height</text>" in regions  # axis titles
    assert regions.count("<circle") == 200 and "answers 0" in regions and "answers 3" in regions  # points, legend
    assert re.search(r'text-anchor="middle" font-family="sans-serif" font-size="11">-?\d', regions)  # tick labels
    curves = page[page.index('aria-label="mean cross_entropy per epoch'):]
    curves = curves[:curves.index("</svg>")]
    assert ">epoch</text>" in curves and "mean cross_entropy (log scale)" in curves
    assert ">20</text>" in curves and ">train</text>" in curves and ">test</text>" in curves


def test_nice_ticks_and_log_ticks():
    from symbackprop.render.charts import log_ticks, nice_ticks

    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(-3.2, 2.9) == [-2, 0, 2]
    assert log_ticks(0.004, 0.15) == [0.005, 0.01, 0.02, 0.05, 0.1]
    assert log_ticks(1e-4, 10) == [1e-4, 1e-3, 1e-2, 1e-1, 1, 10]


def test_kronecker_delta_is_delta_and_the_css_names_a_math_font():
    page = render_html(derive("3-4:relu-3:softmax"))
    assert "kroneckerdelta" not in page.lower() and ("<mi>&#948;</mi>" in page or "<mi>δ</mi>" in page)
    assert '"Latin Modern Math"' in page


def test_a_wide_layer_is_one_box_with_its_width():
    from symbackprop.render.svg import network

    picture = network(derive("784-128:relu-3:softmax", "cross_entropy").network)
    assert ">784</text>" in picture and ">128</text>" in picture
    assert picture.count("<circle") == 3  # the 3 output units; the wide layers are boxes


def test_the_report_shows_the_optimizers_update(run_cli, tmp_path, monkeypatch):
    """report --optimizer NAME (or a model trained with one): the rule's equations after the derivation, in
    MathML (HTML) and LaTeX (Markdown)."""
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("report", "3-3:relu-1:logistic", "--optimizer", "adamw", "--out", "r.html")
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    section = page[page.index('<section id="derivation">'):page.index('<section id="example">')]
    assert "<h3>The update: adamw (beta1 0.9, beta2 0.999, epsilon 1e-08, lambda 0.01)</h3>" in section
    assert section.count("<mo>←</mo>") == 3 and 'alttext="m_P ← g*(1 - β₁) + m_P*β₁"' in section
    assert "the weights W only; biases and norm parameters: lambda = 0" in section
    run_cli("data", "iris")
    assert run_cli("train", "iris.csv", "--net", "4-5:relu-3:softmax", "--standardize", "--epochs", "2",
                   "--optimizer", "momentum", "--out", "m.json")[0] == 0
    assert run_cli("report", "--model", "m.json", "--format", "markdown", "--out", "r.md")[0] == 0
    text = (tmp_path / "r.md").read_text()
    assert "## The update: momentum (mu 0.9)" in text and r"$$ b_{P} \leftarrow" in text
    code, _, err = run_cli("report", "--optimizer", "adm")
    assert code == 2 and "unknown optimizer 'adm'" in err
