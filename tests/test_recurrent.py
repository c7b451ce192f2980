"""Recurrent layers (issue 19): an Elman RNN (tanh, ReLU) and an LSTM unrolled through time — against PyTorch's own
nn.RNN and nn.LSTM in float64 on every backend, backpropagation through time proven by SymPy, shown, refused where
wrong."""

from __future__ import annotations

import numpy as np
import pytest
from networks import assert_agrees, torch_sequence_reference
from test_export import compile_and_run, needs_cc
from test_sequences import BACKENDS, _problem, assert_sequence_agrees, c_matches_pytorch_float32

from symbackprop import LSTM, RNN, Dense, Embedding, Network, PositionalEmbedding, derive, parse_spec
from symbackprop.export import export
from symbackprop.layers import recurrent

SPECS = [("4-embed5d3-rnn6-5:softmax", "cross_entropy"),
         ("5-embed6d4-rnn5:relu-6:softmax", "cross_entropy"),
         ("4-embed5d3-lstm4-5:softmax", "cross_entropy"),
         # stacked, mixed with the other sequence layers, other costs at each position
         ("6-embed7d4-pos6d4-lstm5-rnn3-7:softmax", "cross_entropy"),
         ("5-embed6d4-rnn4-res(layernorm+attn2)-lstm3-1:logistic", "binary_cross_entropy"),
         ("3-embed4d2-lstm2-2:identity", "squared_error"),
         ("1-embed5d3-rnn4-5:softmax", "cross_entropy")]  # one position: no step back in time


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec,cost", SPECS, ids=[s for s, _ in SPECS])
def test_recurrent_layers_agree_with_pytorchs_own_rnn_and_lstm_in_float64(spec, cost, backend):
    assert_sequence_agrees(derive(spec, cost), backend, seed=len(spec), m=4)


def test_padding_is_left_out_of_an_lstms_cost_too():
    d = derive("5-embed6d3-lstm4-6:softmax", "cross_entropy")
    params, X, Y = _problem(d.network, seed=3, m=3)
    Y[:, 3:, 0] = 0  # the first sample's last two positions have no target
    ignore = Y.argmax(axis=0).T.copy()
    ignore[0, 3:] = -100
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    want_cost, want = torch_sequence_reference(d.network, params, X, Y, ignore=torch.tensor(ignore))
    got_cost, got = d.compile("numpy")(params, X, Y)
    assert_agrees(got_cost, got, want_cost, want)


@pytest.mark.parametrize("cell", ["tanh", "relu", "lstm"])
def test_backpropagation_through_time_is_proven_by_sympy(cell):
    T, n, points = recurrent.PROOF_SIZES[cell]
    assert recurrent.bptt_holds(cell, T, n, points)


@pytest.mark.parametrize("cell", ["tanh", "lstm"])
def test_the_prover_rejects_bptt_without_its_recurrence(monkeypatch, cell):
    """δ_t without the step back (Whᵀ·δ_{t+1}; for an LSTM also dc_{t+1} ⊙ f_{t+1}) is what a T-copies mistake
    gives: the prover must say no."""
    right = recurrent.bptt_forms

    def one_step(G, hs, cs, gates, Wh, cell):
        return right(G, hs, cs, gates, Wh * 0, cell) if cell != "lstm" else _no_carry(G, hs, cs, gates, Wh)

    def _no_carry(G, hs, cs, gates, Wh):  # each position on its own: the columns of T separate calls
        import sympy as sp
        cols = [right(G[:, t], hs[t:t + 1], cs[t:t + 1], gates[t:t + 1], Wh, "lstm") for t in range(G.shape[1])]
        return sp.Matrix.hstack(*cols)

    monkeypatch.setattr(recurrent, "bptt_forms", one_step)
    T, n, _ = recurrent.PROOF_SIZES[cell]
    assert not recurrent.bptt_holds.__wrapped__(cell, T, n, 1)


def test_the_lstm_gate_derivatives_are_sympys_in_output_form():
    import sympy as sp

    d = recurrent.gate_derivatives()
    i, f, g, o, c, c_prev = sp.symbols("i f g o c c_prev")
    assert sp.simplify(d["o"] - o * (1 - o) * sp.tanh(c)) == 0
    assert sp.simplify(d["i"] - o * (1 - sp.tanh(c) ** 2) * g * i * (1 - i)) == 0
    assert sp.simplify(d["f"] - o * (1 - sp.tanh(c) ** 2) * c_prev * f * (1 - f)) == 0
    assert sp.simplify(d["g"] - o * (1 - sp.tanh(c) ** 2) * i * (1 - g ** 2)) == 0


@pytest.mark.parametrize("spec,words", [
    ("4-embed5d3-rnn6-5:softmax", ["A2 = h[t] = tanh(Z2[:, t] + Wh2·h[t−1])", "dC_dWh2 = dC_dZ2 · A2[:, t−1]ᵀ",
                                   "(dC_dA2[:, t] + Wh2ᵀ·dC_dZ2[:, t+1]) ⊙ (1 − h_t²)", "proven by SymPy",
                                   "dA2_dWh2 = (1 - A2[r, t]**2)*A2[j, t - 1]"]),
    ("4-embed5d3-lstm4-5:softmax", ["dc_t = dh_t ⊙ o_t ⊙ (1 − tanh²(c_t)) + dc_{t+1} ⊙ f_{t+1}", "proven by SymPy",
                                    "state2 = h[t] = lstm(Z2[:, t] + Wh2·h[t−1])", "A2 = state2[0:4]",
                                    # the gates' local derivatives, SymPy's, on one line
                                    "dA2_dB2 = [g*i*o*(1 - i)*(1 - tanh(c)**2); c_prev*f*o*(1 - f)*(1 - tanh(c)**2); "
                                    "i*o*(1 - g**2)*(1 - tanh(c)**2); o*(1 - o)*tanh(c)]   [lstm-gates, 16×1]"])])
def test_derive_shows_bptt_as_a_recurrence_with_its_proof(run_cli, spec, words):
    code, out, err = run_cli("derive", spec)
    assert code == 0, err
    for w in words:
        assert w in out, w


def test_the_python_layers_are_the_spec_network():
    net = Network(4, [Embedding(5, 3), PositionalEmbedding(4, 3), LSTM(6), RNN(5, "relu"),
                      Dense(5, "softmax")])
    assert net.spec == "4-embed5d3-pos4d3-lstm6-rnn5:relu-5:softmax"
    assert net.shapes() == parse_spec(net.spec).shapes()
    assert net.shapes()["Wx3"] == (24, 3) and net.shapes()["Wh3"] == (24, 6) and net.shapes()["B3"] == (24, 1)
    assert net.shapes()["Wx4"] == (5, 6) and net.shapes()["Wh4"] == (5, 5)


@pytest.mark.parametrize("spec,message", [
    ("3-8:relu-rnn4-2:softmax", "a recurrent layer runs over the positions of a sequence network"),
    ("3-embed5d2-flatten-lstm4-2:softmax", "a recurrent layer runs over the positions of a sequence network"),
    ("3-embed5d2-rnn4:sigmoid-5:softmax", "expected rnn{HIDDEN}[:relu] or lstm{HIDDEN}"),
    ("3-embed5d2-lstm0-5:softmax", "LSTM hidden must be a whole number from 1"),
    ("3-embed5d2-lstm4:relu-5:softmax", "expected rnn{HIDDEN}[:relu] or lstm{HIDDEN}")])
def test_bad_recurrent_specs_are_one_line(run_cli, spec, message):
    code, out, err = run_cli("derive", spec)
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_an_rnn_needs_a_known_activation():
    with pytest.raises(Exception, match="RNN activation must be 'tanh' or 'relu'"):
        RNN(4, "gelu")


def test_a_recurrent_model_trains_through_the_cli_and_beats_its_start(run_cli, tmp_path):
    text = tmp_path / "words.txt"
    text.write_text("\n".join(["abab", "baba", "abba", "aabb", "bbaa"] * 20) + "\n")
    model = tmp_path / "m.json"
    code, out, err = run_cli("train", text, "--net", "5-embed3d4-lstm8-3:softmax", "--epochs", "30",
                              "--seed", "0", "--out", model)
    assert code == 0, err
    code, out, err = run_cli("evaluate", model, text, "--format", "json")
    assert code == 0, err
    import json
    assert json.loads(out)["cross_entropy"] < np.log(3) - 0.2  # below a uniform guess over 3 tokens


@needs_cc
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec,cost", SPECS[:5], ids=[s for s, _ in SPECS[:5]])
def test_the_c_export_runs_the_recurrences_and_passes_its_harness(spec, cost, dtype, tmp_path):
    """A loop over the positions forwards (the states), one backwards (backpropagation through time)."""
    network = parse_spec(spec, cost)
    paths = export(network, "c", tmp_path, "net", dtype=dtype)
    assert f"for (int t = {network.positions - 1}; t >= 0; --t)" in (tmp_path / "net.c").read_text()
    run = compile_and_run(tmp_path, [p for p in paths if p.suffix == ".c"])
    assert run.returncode == 0 and run.stdout.startswith("OK: 0 mismatches"), run.stdout


@needs_cc
def test_the_c_export_of_an_lstm_reproduces_pytorchs_nn_lstm_in_float32(tmp_path):
    worst = c_matches_pytorch_float32(parse_spec("6-embed7d4-pos6d4-lstm5-rnn3-7:softmax"), tmp_path, "lstm")
    assert worst < 1e-4


def random_sequence_spec(seed: int) -> str:
    """A random mixture of the sequence layers: an embedding, maybe positions, then 1-3 of attention (1-3 heads,
    causal or not), RNN (tanh or ReLU), LSTM, a dense layer with layernorm and GELU, a GPT-2 block, a standalone
    layernorm; a softmax over the vocabulary at every position."""
    rng = np.random.default_rng(seed)
    T, V, d = int(rng.integers(2, 6)), int(rng.integers(3, 8)), int(rng.choice([2, 3, 6]))
    layers = [f"embed{V}d{d}"] + ([f"pos{T}d{d}"] if rng.random() < 0.5 else [])
    width = d
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.choice(["attn", "rnn", "lstm", "dense", "block", "layernorm"])
        heads = next(h for h in (3, 2, 1) if width % h == 0 and h <= int(rng.integers(1, 4)))
        if kind == "attn":
            layers.append(f"attn{heads}" + (":nocausal" if rng.random() < 0.3 else ""))
        elif kind == "rnn":
            width = int(rng.integers(2, 5))
            layers.append(f"rnn{width}" + (":relu" if rng.random() < 0.3 else ""))
        elif kind == "lstm":
            width = int(rng.integers(2, 5))
            layers.append(f"lstm{width}")
        elif kind == "dense":
            width = int(rng.integers(2, 6))
            layers.append(f"{width}:layernorm:" + str(rng.choice(["gelu", "gelu_tanh", "tanh", "relu"])))
        elif kind == "block":
            layers.append(f"res(layernorm+attn{heads})")
        else:
            layers.append("layernorm")
    return "-".join([str(T), *layers, f"{V}:softmax"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(8))
def test_random_mixtures_of_the_sequence_layers_agree_with_pytorch_float64(seed, backend):
    assert_sequence_agrees(derive(random_sequence_spec(seed), "cross_entropy"), backend, seed=seed, m=3)


@needs_cc
@pytest.mark.parametrize("seed", range(8))
def test_random_mixtures_of_the_sequence_layers_pass_the_c_harness(seed, tmp_path):
    paths = export(parse_spec(random_sequence_spec(seed), "cross_entropy"), "c", tmp_path, "net")
    run = compile_and_run(tmp_path, [p for p in paths if p.suffix == ".c"])
    assert run.returncode == 0 and run.stdout.startswith("OK: 0 mismatches"), run.stdout


@pytest.mark.parametrize("spec", ["4-embed5d3-lstm4-5:softmax", "4-embed5d3-rnn4:relu-5:softmax",
                                  "4-embed5d4-pos4d4-attn2-5:softmax"])
def test_the_json_of_a_sequence_network_parses_back_with_sympify_given_its_functions(run_cli, spec):
    """Indexed values (Wx2[r, j], X[t]) parse with the IndexedBase definitions in "functions"; an LSTM's gate
    column is an ImmutableMatrix."""
    import json

    import sympy as sp

    code, out, err = run_cli("derive", spec, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    names = {k: sp.sympify(v) for k, v in doc["functions"].items()}
    for name, text in doc["local"].items():
        assert isinstance(sp.sympify(text, locals=names), sp.Basic), name
    if "lstm" in spec:
        gates = sp.sympify(doc["local"]["dA2_dB2"], locals=names)
        assert gates.shape == (4, 1) and sp.Symbol("o") * (1 - sp.Symbol("o")) * sp.tanh(sp.Symbol("c")) == gates[3]
