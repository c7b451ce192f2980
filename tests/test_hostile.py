"""Hostile and broken input: nothing a CSV header, model file or option holds runs or replaces what it should not."""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import subprocess

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
