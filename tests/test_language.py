"""Character-level language models (issue 19): text read as lines, trained with the derived gradients through the
CLI, evaluated in nats per predicted token against a bigram, sampled; bad text and model files in one line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from symbackprop import text as tx
from symbackprop.errors import DataError
from symbackprop.language import default_spec, load_language_model

TINY = "2-embed{V}d8-pos{T}d8-res(layernorm+attn2)-{V}:softmax"


def test_lines_become_a_start_the_characters_and_an_end_padded_without_targets():
    vocab = tx.vocabulary(["ab", "b"])
    assert vocab == ("", "a", "b")
    data = tx.encode(["ab", "b"], vocab, 4, "t.txt")
    np.testing.assert_array_equal(data.inputs, [[0, 0], [1, 2], [2, 0], [0, 0]])
    np.testing.assert_array_equal(data.targets, [[1, 2], [2, 0], [0, -1], [-1, -1]])
    assert data.predicted == 5  # each character and each line's end
    Y = tx.one_hot(data.targets, 3)
    assert Y.shape == (3, 4, 2) and Y[:, 3].sum() == 0 and Y[:, 2, 1].sum() == 0


@pytest.mark.parametrize("lines,block,message", [
    (["abcd"], 4, "line 1 has 4 characters, more than the block of 4 positions holds with its start (3): give "
                  "--block 5 or more"),
    (["ab", "az"], 5, "line 2 has the character 'z', which the model's vocabulary (2 characters) does not have")])
def test_lines_that_do_not_fit_are_named(lines, block, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tx.encode(lines, ("", "a", "b"), block, "t.txt")


def test_an_empty_or_unreadable_text_is_one_line(tmp_path):
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(DataError, match="empty.txt: the text is empty"):
        tx.read_lines(tmp_path / "empty.txt")
    (tmp_path / "bin.txt").write_bytes(b"ab\xff\n")
    with pytest.raises(DataError, match=r"bin.txt: not UTF-8 text \(byte 2\)"):
        tx.read_lines(tmp_path / "bin.txt")


def test_the_bigram_baseline_is_add_one_smoothed_counts():
    vocab = tx.vocabulary(["ab"])
    train = tx.encode(["ab", "ab"], vocab, 3, "t")
    test = tx.encode(["b"], vocab, 3, "t")
    # counts + 1: from the start: a 2+1, b 0+1, end 0+1 (of 5); from b: end 2+1 of 5 ... test: start→b, b→end
    want = -(math.log(1 / 5) + math.log(3 / 5)) / 2
    assert tx.bigram_cross_entropy(train, test, len(vocab)) == pytest.approx(want)


def _text(path, n=120, seed=0):
    """Lines of a small language: 'ab' repeated, or 'ba' repeated, 1 to 4 times."""
    rng = np.random.default_rng(seed)
    path.write_text("\n".join(("ab" if rng.random() < 0.5 else "ba") * int(rng.integers(1, 5)) for _ in range(n))
                    + "\n")
    return path


def test_a_text_trains_through_the_cli_evaluates_and_samples(run_cli, tmp_path):
    data, model = _text(tmp_path / "ab.txt"), tmp_path / "m.json"
    spec = TINY.format(V=3, T=9).replace("2-", "9-", 1)
    code, out, err = run_cli("train", str(data), "--net", spec, "--epochs", "15", "--lr", "0.01", "--out",
                             str(model))
    assert code == 0, err
    assert "test cross-entropy:" in out and "a bigram count model" in out
    metrics = load_language_model(model).metrics
    assert metrics["test_cross_entropy"] < metrics["bigram_test_cross_entropy"]  # attention sees the line's start
    code, out, _ = run_cli("evaluate", str(model), str(data), "--format", "json")
    assert code == 0 and json.loads(out)["cross_entropy"] == pytest.approx(
        load_language_model(model).cross_entropy(tx.encode(tx.read_lines(data), ("", "a", "b"), 9, "x")))
    code, out, _ = run_cli("sample", str(model), "-n", "4", "--seed", "3")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4 and all(set(line) <= {"a", "b"} and len(line) <= 8 for line in lines)
    assert run_cli("sample", str(model), "-n", "4", "--seed", "3")[1] == out  # the seed fixes the draw


def test_evaluate_refuses_a_character_the_model_never_saw(run_cli, tmp_path):
    data, model = _text(tmp_path / "ab.txt"), tmp_path / "m.json"
    assert run_cli("train", str(data), "--net", TINY.format(V=3, T=9).replace("2-", "9-", 1), "--epochs", "1",
                   "--out", str(model))[0] == 0
    (tmp_path / "other.txt").write_text("ab\nabc\n")
    code, _, err = run_cli("evaluate", str(model), str(tmp_path / "other.txt"))
    assert code == 2 and "other.txt: line 2 has the character 'c', which the model's vocabulary" in err


@pytest.mark.parametrize("argv,message", [
    (["--block", "3"], "line 1 has 8 characters, more than the block of 3 positions holds"),
    (["--net", "9-embed3d4-3:softmax", "--block", "12"], "must read 12 positions (the block) over the text's 3 "
                                                        "tokens"),
    (["--standardize"], "--standardize is for training on a CSV, not on a text"),
    (["--backend", "numba"], "a language model trains on the numpy, jax or torch backend, not numba"),
    (["--stream"], "--stream reads one long text in windows of --block T: give --block"),
    (["--stream", "--block", "12"], "t.txt: --block 12 is larger than the text (12 characters): a window of 12 "
                                    "positions and the character after it need 13; give --block 11 or less"),
])
def test_bad_text_training_options_are_one_line(run_cli, tmp_path, argv, message):
    (tmp_path / "t.txt").write_text("abababab\nab\n")
    code, _, err = run_cli("train", str(tmp_path / "t.txt"), *argv)
    assert code == 2 and message in err and "Traceback" not in err, err


def test_a_tampered_model_file_is_one_line(run_cli, tmp_path):
    data, model = _text(tmp_path / "ab.txt"), tmp_path / "m.json"
    assert run_cli("train", str(data), "--net", TINY.format(V=3, T=9).replace("2-", "9-", 1), "--epochs", "1",
                   "--out", str(model))[0] == 0
    doc = json.loads(model.read_text())
    doc["vocabulary"][1] = "ab"
    model.write_text(json.dumps(doc))
    code, _, err = run_cli("sample", str(model))
    assert code == 2 and "'vocabulary' must list the boundary" in err


def test_the_names_text_ships_with_its_licence(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("data", "names")
    assert code == 0 and out.strip() == "wrote names.txt (5163 lines)"
    lines = tx.read_lines(tmp_path / "names.txt")
    assert len(lines) == len(set(lines)) == 5163 and max(map(len, lines)) == 11
    assert tx.vocabulary(lines) == ("", *"abcdefghijklmnopqrstuvwxyz")


def test_the_default_transformer_is_documented_gpt2_blocks():
    assert default_spec(12, 27) == ("12-embed27d32-pos12d32-res(layernorm+attn4)-res(layernorm+128:gelu_tanh+"
                                    "32:identity)-res(layernorm+attn4)-res(layernorm+128:gelu_tanh+32:identity)-"
                                    "layernorm-27:softmax")


@pytest.mark.slow  # the default model with the default training: minutes (pytest -m slow runs it)
def test_the_default_model_beats_the_bigram_by_015_nats_on_held_out_names(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("data", "names")[0] == 0
    code, out, err = run_cli("train", "names.txt", "--out", "m.json")
    assert code == 0, err
    metrics = load_language_model(tmp_path / "m.json").metrics
    assert metrics["test_cross_entropy"] <= metrics["bigram_test_cross_entropy"] - 0.15, metrics


@pytest.mark.parametrize("net", ["attention", "recurrent"])
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_backend_trains_the_same_language_model(backend, net, tmp_path):
    pytest.importorskip(backend, reason=f"{backend} is not installed (.ci/run installs it)")
    from symbackprop.language import train_text

    data = _text(tmp_path / "ab.txt", n=40)
    spec = (TINY.format(V=3, T=9).replace("2-", "9-", 1) if net == "attention" else
            "9-embed3d4-lstm5-rnn3:relu-3:softmax")
    ref = train_text(data, spec, epochs=2, batch_size=8, progress=False)
    got = train_text(data, spec, epochs=2, batch_size=8, progress=False, backend=backend)
    for name, value in ref.params.items():  # atol: the key bias's gradient is 0 but for rounding, which Adam scales
        np.testing.assert_allclose(got.params[name], value, rtol=1e-9, atol=1e-9, err_msg=name)
    assert got.metrics["test_cross_entropy"] == pytest.approx(ref.metrics["test_cross_entropy"], rel=1e-9)
    assert got.metrics["backend"] == backend


def test_sampling_refuses_a_count_it_would_not_fit_and_a_bad_temperature(run_cli, tmp_path):
    data, model = _text(tmp_path / "ab.txt"), tmp_path / "m.json"
    assert run_cli("train", str(data), "--net", TINY.format(V=3, T=9).replace("2-", "9-", 1), "--epochs", "1",
                   "--out", str(model))[0] == 0
    code, _, err = run_cli("sample", str(model), "-n", "100000000")
    assert code == 2 and "-n must be from 1 to 100,000 lines, not 100,000,000" in err
    code, _, err = run_cli("sample", str(model), "--temperature", "0")
    assert code == 2 and "--temperature must be a number above 0, not 0" in err


def test_a_long_texts_windows_predict_each_character_after_the_first_once():
    ids = np.arange(11)
    data = tx.covering(ids, 3)
    assert data.predicted == 10
    predicted = sorted(int(t) for t in data.targets[data.targets >= 0])
    assert predicted == list(range(1, 11))
    np.testing.assert_array_equal(data.inputs[:, -1] + 1, [8, 9, 10])  # the last window ends at the text's end
    shifted = tx.windows(ids, 3, offset=2)
    np.testing.assert_array_equal(shifted.inputs.T, [[2, 3, 4], [5, 6, 7]])
    np.testing.assert_array_equal(shifted.targets, shifted.inputs + 1)


def test_one_long_text_trains_in_windows_evaluates_and_samples(run_cli, tmp_path):
    """--stream --block T: line ends are characters; the held-out share is the text's end; a recurrent model."""
    data, model = tmp_path / "long.txt", tmp_path / "m.json"
    data.write_text("abcabcabd\n" * 60)
    spec = "8-embed6d6-lstm12-6:softmax"  # the boundary, a, b, c, d and the line end
    code, out, err = run_cli("train", data, "--stream", "--block", "8", "--net", spec, "--epochs", "20",
                             "--lr", "0.02", "--out", model)
    assert code == 0, err
    assert "on 540 characters of" in out and "tested on 60" in out and "fitted on the same text" in out
    m = load_language_model(model)
    assert m.stream and m.vocab == ("", "\n", "a", "b", "c", "d")
    assert m.metrics["test_cross_entropy"] < m.metrics["bigram_test_cross_entropy"]  # the bigram cannot count to 3
    code, out, _ = run_cli("evaluate", model, data, "--format", "json")
    assert code == 0 and json.loads(out)["cross_entropy"] < m.metrics["bigram_test_cross_entropy"]
    code, out, _ = run_cli("sample", model, "-n", "3", "--temperature", "0.5")
    assert code == 0 and len(out.splitlines()) == 3 and all(set(line) <= set("abcd") for line in out.splitlines())
    (tmp_path / "short.txt").write_text("abc")
    code, _, err = run_cli("evaluate", model, tmp_path / "short.txt")
    assert code == 2 and "--block 8 is larger than the text (3 characters)" in err


def test_block_and_stream_are_refused_for_a_csv(run_cli, tmp_path):
    (tmp_path / "d.csv").write_text("x,y\n1,2\n")
    code, _, err = run_cli("train", tmp_path / "d.csv", "--net", "1-1:identity", "--stream")
    assert code == 2 and "--stream is for training on a text" in err


def test_sampling_starts_each_line_with_the_given_text_and_refuses_what_the_model_cannot_read(run_cli, tmp_path):
    data, model = _text(tmp_path / "ab.txt"), tmp_path / "m.json"
    assert run_cli("train", data, "--net", TINY.format(V=3, T=9).replace("2-", "9-", 1), "--epochs", "2",
                   "--out", model)[0] == 0
    code, out, err = run_cli("sample", model, "-n", "5", "--start", "ba")
    assert code == 0 and len(out.splitlines()) == 5 and all(line.startswith("ba") for line in out.splitlines()), err
    for start, message in [("abz", "--start: the character 'z' is not in the model's vocabulary ('ab')"),
                           ("ab" * 5, "--start has 10 characters; this model's lines hold 8 (a block of 9 positions")]:
        code, _, err = run_cli("sample", model, "--start", start)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_stream_model_samples_from_its_start_too(tmp_path):
    from symbackprop.language import train_text

    data = tmp_path / "long.txt"
    data.write_text("abcabcabd\n" * 30)
    model = train_text(data, "8-embed6d4-lstm6-6:softmax", block=8, stream=True, epochs=2, progress=False)
    lines = model.sample(3, start="abc" * 4)  # longer than the block: the last 8 characters are the context
    assert len(lines) == 3 and all(line.startswith("abc" * 4) and "\n" not in line for line in lines)


def test_a_text_too_big_for_this_machine_is_refused_before_it_is_read(run_cli, tmp_path, monkeypatch):
    from symbackprop import resources

    data = _text(tmp_path / "ab.txt")
    monkeypatch.setattr(resources, "physical_memory", lambda: 4096)  # a machine of 4 KiB
    code, _, err = run_cli("train", data, "--stream", "--block", "4")
    assert code == 2 and f"{data} ({data.stat().st_size:,} bytes) as a text would need about" in err, err
    assert len(err.strip().splitlines()) == 1
