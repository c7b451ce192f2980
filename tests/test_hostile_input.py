"""Hostile and broken input, round three (issue 21, items 4, 8-9, 11-12, 14-16, 19): one line, exit 2, no traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest

from symbackprop import load, train


@pytest.fixture
def data_csv(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 2))
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n" + "\n".join(f"{a},{b},{int(a * b > 0)}" for a, b in X) + "\n")
    return path


def _one_line(code, out, err, *needles):
    assert code == 2 and not out and err.count("\n") == 1 and "Traceback" not in err, (code, out, err)
    for needle in needles:
        assert needle in err, err


def test_control_characters_in_labels_do_not_reach_the_terminal(run_cli, tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 2))
    title = "\x1b]0;TITLE\x07dark\u202e"
    model = train("2-3:tanh-1:logistic", X, np.where(X[:, 0] > 0, title, "light"), iterations=200)
    path = tmp_path / "m.json"
    model.save(path)
    assert title in json.loads(path.read_text())["classes"]
    code, out, err = run_cli("predict", path, "3", "0")
    assert code == 0 and "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b]0;TITLE\\x07dark\\u202e" in out
    rows = tmp_path / "rows.csv"
    rows.write_text("x0,x1\n3,0\n-3,0\n")
    code, out, _ = run_cli("predict", path, "--csv", rows)
    assert code == 0 and "\x1b" not in out


def test_control_characters_in_column_names_are_escaped_in_errors(run_cli, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\x1b[2J,label\n1,x,0\n")
    code, out, err = run_cli("train", path, "--net", "2-1:logistic")
    assert code == 2 and "\x1b" not in err and "\\x1b[2J" in err


def test_dropout_is_bounded_away_from_one(run_cli, data_csv):
    code, out, err = run_cli("train", data_csv, "--net", "2-4:relu:dropout=0.9999999999999999-1:logistic",
                             "--epochs", "1", "--batch-size", "4")
    _one_line(code, out, err, "at most 0.99")


def test_batchnorm_with_per_sample_training_is_one_line(run_cli, data_csv):
    code, out, err = run_cli("train", data_csv, "--net", "2-4:batchnorm:relu-1:logistic")
    _one_line(code, out, err, "give a batch size or epochs")


def test_batchnorm_on_numba_with_a_batch_size_says_which_backend(run_cli, data_csv):
    code, out, err = run_cli("train", data_csv, "--net", "2-4:batchnorm:relu-1:logistic", "--backend", "numba",
                             "--batch-size", "8", "--epochs", "2")
    _one_line(code, out, err, "choose --backend numpy, jax or torch")
    assert "give a batch size" not in err


@pytest.mark.parametrize("spec,needle", [("2-4:relu:dropout=0.1:dropout=0.9-1:logistic", "dropout is given twice"),
                                         ("2-4:relu:residual:residual-1:logistic", "residual is given twice"),
                                         ("2-4:batchnorm_eval:relu-1:logistic", "not a norm for specs")])
def test_spec_options_given_twice_or_internal_are_refused(run_cli, data_csv, spec, needle):
    code, out, err = run_cli("derive", spec)
    _one_line(code, out, err, needle)


@pytest.fixture
def saved(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    plain = tmp_path / "m.json"
    train("2-4:relu-1:logistic", X, y, iterations=200).save(plain)
    bn = tmp_path / "bn.json"
    train("2-4:batchnorm:relu-1:logistic", X, y, batch_size=8, epochs=2).save(bn)
    return plain, bn


@pytest.mark.parametrize("which,change,needle", [
    (1, lambda d: d["params"]["rvar1"][0].__setitem__(0, -1.0), "running variance"),
    (0, lambda d: d.update(classes=[0, 0]), "lists a label twice"),
    (0, lambda d: d.update(classes=["a", "b", "c"]), "tells exactly two apart"),
    (0, lambda d: d["params"].update(W1=[[str(v) for v in row] for row in d["params"]["W1"]]),
     "not a matrix of numbers"),
    (0, lambda d: d["params"].update(B2=[[True]]), "not a matrix of numbers"),
])
def test_malformed_model_files_are_refused_naming_the_file(run_cli, saved, which, change, needle):
    path = saved[which]
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    code, out, err = run_cli("predict", path, "0.1", "0.2")
    _one_line(code, out, err, needle, str(path))


def test_print_of_a_model_is_a_short_summary(saved):
    model = load(saved[0])
    text = repr(model)
    assert text.count("\n") <= 1 and len(text) < 300
    assert "2-4:relu-1:logistic" in text and "parameters" in text and "classes" in text
    assert str(model) == text


def test_a_csv_without_a_header_row_is_refused_and_no_header_reads_it(run_cli, data_csv, tmp_path):
    lines = data_csv.read_text().splitlines()[1:]
    bare = tmp_path / "bare.csv"
    bare.write_text("\n".join(lines) + "\n")
    code, out, err = run_cli("train", bare, "--net", "2-2:tanh-1:logistic", "--batch-size", "8", "--epochs", "2")
    _one_line(code, out, err, f"{bare}, row 1: the first row is all numbers", "--no-header")
    model = tmp_path / "m.json"
    code, out, err = run_cli("train", bare, "--net", "2-2:tanh-1:logistic", "--batch-size", "8", "--epochs", "2",
                             "--no-header", "--test-size", "0", "--out", model)
    assert code == 0 and f"on {len(lines)} rows" in out
    assert json.loads(model.read_text())["features"] == ["x1", "x2"]
    rows = tmp_path / "rows.csv"
    rows.write_text("0.5,0.5\n-1,2\n")
    code, out, err = run_cli("predict", model, "--csv", rows, "--no-header")
    assert code == 0 and out.splitlines()[1].startswith("1,") and out.splitlines()[2].startswith("2,")


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_the_separator_is_found_from_the_first_line(run_cli, data_csv, tmp_path, separator):
    other = tmp_path / "other.csv"
    other.write_text(data_csv.read_text().replace(",", separator))
    code, out, err = run_cli("train", other, "--net", "2-2:tanh-1:logistic", "--batch-size", "8", "--epochs", "2")
    assert code == 0 and "on 40 rows" in out, err


def test_a_gradcheck_that_would_take_minutes_is_refused_with_its_estimate(run_cli):
    code, out, err = run_cli("gradcheck", "1000-1000:relu-1:logistic")
    _one_line(code, out, err, "would take about", "1,002,001 cost evaluations")


def test_a_deep_network_derives_without_writing_out_every_chain(run_cli):
    spec = "2-" + "-".join(["2:relu"] * 300) + "-1:logistic"
    code, out, err = run_cli("derive", spec)
    assert code == 0 and "Traceback" not in err
    assert "not written out" in out and "dC_dW1 = dC_dZ1 · Xᵀ" in out
    code, out, _ = run_cli("derive", spec, "--format", "json")
    assert code == 0 and "chains_omitted" in json.loads(out)
    spec = "2-" + "-".join(["2:tanh:residual"] * 40) + "-1:logistic"  # 2^40 paths: counted, never listed
    code, out, _ = run_cli("derive", spec)
    assert code == 0 and "double with each residual connection" in out


def test_a_network_too_deep_to_derive_in_a_minute_is_refused():
    from symbackprop import derive
    from symbackprop.errors import SymbackpropError

    with pytest.raises(SymbackpropError, match="would take about"):
        derive("2-" + "-".join(["2:relu"] * 40_000) + "-1:logistic")


def test_an_error_in_a_long_spec_names_the_layer_and_shortens_the_spec():
    """A message repeated the whole spec for each layer parsed: quadratic in a generated spec's length (a 40,000
    layer refusal took 17 s, 13 of them building messages), and a wall of text when one layer is wrong."""
    from symbackprop import parse_spec
    from symbackprop.errors import SpecError

    spec = "2-" + "-".join(["2:relu"] * 100) + "-3:bogus"
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    message = str(err.value)
    assert "layer 101, '3:bogus'" in message and f"({len(spec):,} characters)" in message and len(message) < 500
    with pytest.raises(SpecError, match=r"of spec '2-3:bogus'\)$"):
        parse_spec("2-3:bogus")


def test_an_abbreviated_option_is_not_taken_for_a_longer_one(run_cli, data_csv):
    """``--test 0.5`` used to mean ``--test-size 0.5`` silently (issue 22, item 1; ``--test`` is now a file)."""
    code, out, err = run_cli("train", data_csv, "--net", "2-1:logistic", "--test-si", "0.5")
    assert code == 2 and not out and "unrecognized arguments: --test-si 0.5" in err
    code, _, err = run_cli("train", data_csv, "--net", "2-1:logistic", "--epoch", "2")
    assert code == 2 and "--epoch" in err
