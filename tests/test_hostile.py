"""Hostile and broken input: nothing a CSV header, model file or option holds runs or replaces what it should not."""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_report import CHROMIUM, FLAGS, PROBE

from symbackprop.backends.js_code import script_json
from symbackprop.export import export
from symbackprop.train import train

INJECTIONS = ["</script><script>document.title='PWNED'</script>", "</SCRIPT >x<script>document.title='PWNED'</script>",
              "<!--<script>", "a\u2028b\u2029c & <b>"]


def test_script_json_cannot_close_or_break_a_script_element():
    for text in INJECTIONS:
        out = script_json({"features": [text], "classes": [text]})
        assert "<" not in out and ">" not in out and "\u2028" not in out and "\u2029" not in out
        assert json.loads(out) == {"features": [text], "classes": [text]}


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (Debian: apt-get install chromium)")
def test_injected_feature_names_and_classes_do_not_run_and_the_page_still_predicts(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = np.where(X[:, 0] > 0, 1, 0)
    model = train("2-3:tanh-2:softmax", X, y, "cross_entropy", batch_size=16, epochs=20, lr=0.3,
                  feature_names=INJECTIONS[:2], classes=None)
    model.classes = [INJECTIONS[0], INJECTIONS[2]]
    [page] = export(model, "js", tmp_path, "evil")
    probe = PROBE.replace("errors: window.__errors", "errors: window.__errors, title: document.title, "
                          "shown: document.getElementById('prediction').textContent")
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("<head>", "<head>" + probe, 1))
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          probed.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stderr[-2000:]
    result = json.loads(htmllib.unescape(found.group(1)))
    assert result["errors"] == [] and "PWNED" not in result["title"]
    assert result["shown"].startswith("class ")  # the page's own predictor still works


def test_out_onto_a_fifo_is_refused_and_leaves_it(run_cli, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, out, err = run_cli("report", "--out", fifo)
    assert code == 2 and err.count("\n") == 1 and "is not a regular file" in err and "Traceback" not in err
    assert fifo.is_fifo()
    code, _, err = run_cli("report", "--out", "/dev/null")
    assert code == 2 and "is not a regular file" in err
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_out_through_a_symlink_writes_its_target(run_cli, tmp_path):
    target = tmp_path / "real.html"
    target.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    code, _, _ = run_cli("report", "--out", link)
    assert code == 0 and link.is_symlink() and target.read_text().startswith("<!DOCTYPE html>")


def test_export_name_with_a_trailing_newline_is_refused(run_cli, tmp_path):
    code, _, err = run_cli("export", "3-3:relu-1:logistic", "--to", "c", "--name", "abc\n", "--out", tmp_path)
    assert code == 2 and "--name must be a C/Python identifier" in err
    assert not list(tmp_path.iterdir())


def test_c_export_writes_all_three_files_or_none(run_cli, tmp_path):
    (tmp_path / "test_net.c").mkdir()  # the third file cannot be written
    code, _, err = run_cli("export", "3-3:relu-1:logistic", "--to", "c", "--name", "net", "--out", tmp_path)
    assert code == 2 and "is a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_net.c"]


CHECKED = '''
import sys
import numpy as np

def good(params, X, Y):
    from symbackprop import derive
    return derive("2-2:tanh-1:identity").compile("numpy")(params, X, Y)

def one_nan(params, X, Y):
    cost, grads = good(params, X, Y)
    grads["W1"][0, 1] = np.nan
    return grads

def all_nan(params, X, Y):
    return {k: np.full(v.shape, np.nan) for k, v in params.items()}

def nan_cost(params, X, Y):
    return np.nan, good(params, X, Y)[1]

def inf_grad(params, X, Y):
    grads = good(params, X, Y)[1]
    grads["B2"][0, 0] = np.inf
    return grads

def complex_grad(params, X, Y):
    grads = good(params, X, Y)[1]
    grads["W2"] = grads["W2"] + 0j
    return grads

def exits_zero(params, X, Y):
    sys.exit(0)

def exits_three(params, X, Y):
    sys.exit(3)

def chatty(params, X, Y):
    print("debugging output")
    return good(params, X, Y)

def slow(params, X, Y):
    while True:
        pass
'''


@pytest.fixture
def checked(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(CHECKED)
    return path


@pytest.mark.parametrize("func,bad", [("one_nan", "W1"), ("all_nan", "W1"), ("nan_cost", "cost"),
                                      ("inf_grad", "B2"), ("complex_grad", "W2")])
def test_check_never_passes_non_finite_or_complex_values(run_cli, checked, func, bad):
    code, out, err = run_cli("check", "2-2:tanh-1:identity", f"{checked}:{func}")
    assert code == 1, out + err
    line = next(row for row in out.splitlines() if row.lstrip().startswith(f"✗ {bad}"))
    assert "0.00e+00" not in line
    assert "OK" not in out.splitlines()[-1]


@pytest.mark.parametrize("func", ["exits_zero", "exits_three"])
def test_user_code_cannot_choose_the_exit_code(run_cli, checked, func):
    code, out, err = run_cli("check", "2-2:tanh-1:identity", f"{checked}:{func}")
    assert code == 2 and not out and err.count("\n") == 1
    assert f"{checked}:" in err and "sys.exit" in err and "Traceback" not in err


def test_sys_exit_at_import_is_a_failure_of_the_call(run_cli, tmp_path):
    path = tmp_path / "exits.py"
    path.write_text("import sys\nsys.exit(0)\n")
    code, out, err = run_cli("check", "2-2:tanh-1:identity", f"{path}:f")
    assert code == 2 and not out and "sys.exit" in err and f"{path}:2" in err


def test_what_user_code_prints_goes_to_stderr_and_json_stays_valid(run_cli, checked):
    code, out, err = run_cli("check", "2-2:tanh-1:identity", f"{checked}:chatty", "--json")
    assert code == 0 and json.loads(out)["ok"] and "debugging output" in err


def test_a_call_past_the_timeout_is_one_line(run_cli, checked):
    code, out, err = run_cli("check", "2-2:tanh-1:identity", f"{checked}:slow", "--timeout", "0.5")
    assert code == 2 and not out and err.count("\n") == 1 and "longer than 0.5 s" in err


def _font_like_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, size=(80, 3))
    path = tmp_path / "colours.csv"
    path.write_text("R,G,B,dark\n" + "\n".join(f"{r:.0f},{g:.0f},{b:.0f},{int(r + g + b > 380)}" for r, g, b in X)
                    + "\n")
    return path


@pytest.mark.parametrize("argv", [["train", "{csv}", "--net", "3-2:relu-1:logistic", "--seed", "-1"],
                                  ["gradcheck", "2-2:tanh-1:identity", "--seed", "-3"],
                                  ["check", "3-3:relu-1:logistic", "examples/textbook_backprop.py:backprop",
                                   "--seed", "-2"],
                                  ["demo", "--seed", "-1"]])
def test_a_negative_seed_is_one_line(run_cli, tmp_path, argv):
    csv = _font_like_csv(tmp_path)
    code, out, err = run_cli(*[a.format(csv=csv) for a in argv])
    assert code == 2 and err.count("\n") == 1 and "--seed must be" in err and "Traceback" not in err


@pytest.mark.parametrize("option,where", [("--out", "missing/m.json"), ("--out", "folder"), ("--out", "fifo"),
                                          ("--plot", "folder")])
def test_train_checks_its_outputs_before_the_first_step(run_cli, tmp_path, option, where):
    csv = _font_like_csv(tmp_path)
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    code, out, err = run_cli("train", csv, "--net", "3-2:relu-1:logistic", "--iterations", "100000000",
                             option, tmp_path / where)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"symbackprop: error: {option} ") and not out


def test_sigterm_leaves_no_temporary_file_and_exits_143(tmp_path):
    import signal
    import sys
    import time

    csv = _font_like_csv(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "symbackprop", "train", str(csv), "--net", "3-8:relu-1:logistic",
                             "--iterations", "2000000000", "--out", str(tmp_path / "m.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colours.csv"]


@pytest.mark.parametrize("argv", [["gradcheck", "{net}"], ["report", "{net}", "--out", "{tmp}/r.html"],
                                  ["check", "{net}", "examples/textbook_backprop.py:backprop"],
                                  ["train", "{csv}", "--net", "3-100000:relu-100000:relu-1:logistic"]])
def test_a_huge_network_is_refused_before_allocating(run_cli, tmp_path, argv):
    csv = _font_like_csv(tmp_path)
    net = "100000-100000:relu-1:logistic"
    code, out, err = run_cli(*[a.format(net=net, tmp=tmp_path, csv=csv) for a in argv])
    assert code == 2 and err.count("\n") == 1 and "GiB of memory" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_many_iterations_draw_the_order_in_parts_and_keep_at_most_1000_points():
    from symbackprop import train

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    model = train("2-3:tanh-1:logistic", X, (X[:, 0] > 0).astype(int), iterations=2_500_000, lr=0.01, seed=0)
    assert model.history["unit"] == "3000 steps" and len(model.history["train"]) == 834


@pytest.mark.parametrize("change,message", [
    (lambda d: d["scaling"].update(kind="standardize", mean=[0, 0, 0], std=[1, 0, 1]), "positive standard dev"),
    (lambda d: d["scaling"].update(kind="standardize", mean=["a", 0, 0], std=[1, 1, 1]), "numbers"),
    (lambda d: d.update(classes=5), "'classes' must be a list"),
    (lambda d: d["scaling"].update(kind="standardize", mean=[float("nan"), 0, 0], std=[1, 1, 1]), "finite means"),
    (lambda d: d.update(features=["R", "G\udc80", "B"]), "lone surrogate"),
    (lambda d: d.update(features=[1, 2, 3]), "'features' must list 3 names"),
    (lambda d: d.update(history={"train": "x"}), "'history'"),
    (lambda d: d.update(metrics={"acc": "high"}), "'metrics'"),
])
def test_malformed_model_fields_are_one_line(run_cli, tmp_path, change, message):
    from symbackprop import train

    X = np.random.default_rng(0).uniform(0, 255, size=(40, 3))
    model = train("3-2:relu-1:logistic", X, (X.sum(axis=1) > 380).astype(int), iterations=200)
    doc = model.to_json()
    change(doc)
    (tmp_path / "m.json").write_text(json.dumps(doc), encoding="utf-8", errors="surrogatepass")
    for argv in (["predict", tmp_path / "m.json", "1", "2", "3"], ["report", "--model", tmp_path / "m.json",
                                                                    "--out", tmp_path / "r.html"]):
        code, out, err = run_cli(*argv)
        assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err


def test_deeply_nested_model_json_is_one_line(run_cli, tmp_path):
    (tmp_path / "m.json").write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = run_cli("predict", tmp_path / "m.json", "1")
    assert code == 2 and "nested too deeply" in err


def test_a_softmax_with_more_units_than_classes_predicts_a_seen_class():
    from symbackprop import train

    X = np.random.default_rng(0).normal(size=(60, 2))
    model = train("2-4:tanh-5:softmax", X, (X[:, 0] > 0).astype(int), "cross_entropy", batch_size=8, epochs=2)
    assert set(model.predict(np.random.default_rng(1).normal(size=(500, 2)) * 50)) <= {0, 1}


def test_non_finite_inputs_are_named_not_called_divergence(run_cli, tmp_path):
    from symbackprop import SymbackpropError
    from symbackprop import train as train_api

    csv = _font_like_csv(tmp_path)
    code, _, err = run_cli("train", csv, "--net", "3-2:relu-1:logistic", "--scale", "1e-320", "--iterations", "10")
    assert code == 2 and err.count("\n") == 1 and "feature 'R' is not finite after scaling" in err
    X = np.ones((10, 2))
    X[3, 1] = np.nan
    with pytest.raises(SymbackpropError, match="feature 'column 1' is not finite in sample 4"):
        train_api("2-2:tanh-1:logistic", X, np.ones(10), iterations=10)


def test_unscaled_large_features_warn_once(run_cli, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1e6, size=(40, 2))
    path = tmp_path / "big.csv"
    path.write_text("a,b,y\n" + "\n".join(f"{a},{b},{int(a > b)}" for a, b in X) + "\n")
    code, _, err = run_cli("train", path, "--net", "2-2:tanh-1:logistic", "--iterations", "2000")
    assert code == 0 and err.count("features reach") == 1 and "RuntimeWarning" not in err


def test_predicting_far_outside_gives_one_line_not_nan(run_cli, tmp_path):
    from symbackprop import Model, parse_spec

    model = Model(parse_spec("2-1:identity"), {"W1": np.array([[10.0, 10.0]]), "B1": np.zeros((1, 1))})
    model.save(tmp_path / "m.json")
    code, out, err = run_cli("predict", tmp_path / "m.json", "1e308,1e308")
    assert code == 2 and err.count("\n") == 1 and "not finite" in err and "nan" not in out


def test_an_unwritable_output_folder_is_one_line(run_cli, tmp_path):
    import shutil as sh

    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if root and (sh.which("chattr") is None
                 or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0):
        pytest.skip("running as root, and chattr +i (to make the folder read-only for root) is not available here")
    try:
        code, _, err = run_cli("report", "--out", folder / "r.html")
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert code == 2 and err.count("\n") == 1 and "cannot write" in err and not list(folder.iterdir())


def test_an_oversized_model_file_is_refused_before_reading(run_cli, tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as fh:  # sparse: 1 GiB on paper, nothing on disk
        fh.truncate(2**30)
    code, _, err = run_cli("predict", path, "1")
    assert code == 2 and err.count("\n") == 1 and "a model file is at most" in err


def test_a_model_with_non_finite_parameters_is_not_saved(tmp_path):
    from symbackprop import Model, SymbackpropError, parse_spec

    model = Model(parse_spec("2-1:identity"), {"W1": np.array([[np.nan, 1.0]]), "B1": np.zeros((1, 1))})
    with pytest.raises(SymbackpropError, match="W1 has non-finite values"):
        model.save(tmp_path / "m.json")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # an end-to-end training on a million rows
def test_a_million_row_csv_trains_within_300_mb_plus_five_times_its_size(tmp_path):
    """Memory, not time: the CSV is streamed and the split gathered without copies (3 M rows: bench_data.py)."""
    import sys

    rng = np.random.default_rng(0)
    path = tmp_path / "big.csv"
    with open(path, "w") as fh:
        fh.write("R,G,B,dark\n")
        rgb = rng.integers(0, 256, size=(1_000_000, 3))
        np.savetxt(fh, np.column_stack([rgb, rgb.sum(axis=1) > 380]), fmt="%d", delimiter=",")
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc/self/status to read a process's own peak memory from")
    # VmHWM is this process's own peak since it started (getrusage would count the forked test runner too)
    script = ("import re, sys\nfrom symbackprop.cli import main\ncode = main(sys.argv[1:])\n"
              "hwm = re.search(r'VmHWM:\\s*(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
              "print('peak', int(hwm) * 1024)\nsys.exit(code)")
    run = subprocess.run([sys.executable, "-c", script, "train", str(path), "--net", "3-3:relu-1:logistic",
                          "--scale", "255", "--iterations", "20000"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    peak = int(run.stdout.split("peak ")[1])
    assert peak <= 300 * 2**20 + 5 * path.stat().st_size, peak
