"""Token networks (issue 19, first layers): an embedding of token ids, flattened into a context window — derived,
proven, compiled on every array backend and in C, trained and predicted, and refused in one line where wrong."""

from __future__ import annotations

import re

import numpy as np
import pytest
from networks import assert_agrees, torch_reference, torch_sequence_reference
from test_export import compile_and_run, needs_cc

from symbackprop import Dense, Embedding, Flatten, Network, derive, load, parse_spec, train
from symbackprop.errors import SymbackpropError
from symbackprop.export import export
from symbackprop.layers import attention, embedding

SPECS = [("3-embed5d2-flatten-4:tanh-5:softmax", "cross_entropy"),
         ("1-embed7d3-flatten-7:softmax", "cross_entropy"),  # a bigram model: one token predicts the next
         # makemore's "backprop ninja" network: embedding, context of 3, batchnorm, tanh, softmax
         ("3-embed27d10-flatten-16:batchnorm:tanh-27:softmax", "cross_entropy"),
         ("4-embed6d3-flatten-5:layernorm:gelu_tanh-5:relu:residual-6:softmax", "cross_entropy"),
         ("2-embed4d3-flatten-3:relu-1:logistic", "binary_cross_entropy"),
         ("2-embed9d2-flatten-2:identity", "squared_error")]
BACKENDS = ["numpy", "jax", "torch"]


def _problem(net, seed: int, m: int = 6):
    from symbackprop.draws import random_problem

    params, X, Y = random_problem(net, np.random.default_rng(seed), m)
    X[:, 0] = X[0, 0]  # one sample repeats its first token: its gradient columns add up in the table
    X[:, 1] = X[:, 0]  # and two samples are the same
    return {k: v * 0.5 for k, v in params.items()}, X, Y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec,cost", SPECS, ids=[s for s, _ in SPECS])
def test_gradients_agree_with_pytorch_float64(spec, cost, backend):
    if backend != "numpy":
        pytest.importorskip(backend, reason=f"{backend} is not installed (.ci/run installs it)")
    d = derive(spec, cost)
    params, X, Y = _problem(d.network, seed=len(spec))
    want_cost, want = torch_reference(d.network, params, X, Y)
    got_cost, got = d.compile(backend)(params, X, Y)
    assert_agrees(got_cost, got, want_cost, want)


def test_a_token_not_in_the_batch_gets_no_gradient_and_a_repeated_one_the_sum():
    d = derive("2-embed4d2-flatten-1:identity")
    params = {"E1": np.arange(8.0).reshape(2, 4), "W2": np.array([[1.0, 2.0, 3.0, 4.0]]), "B2": np.zeros((1, 1))}
    X = np.array([[1.0], [1.0]])  # token 1 twice
    _, g = d.compile("numpy")(params, X, np.zeros((1, 1)))
    # dC/dZ2 = 2·(Z2 − 0); the two positions' columns of W2ᵀ·dC/dZ2 both land in column 1
    z = float((params["W2"] @ np.array([1.0, 5.0, 1.0, 5.0]))[0])
    np.testing.assert_allclose(g["E1"][:, 1], 2 * z * np.array([1.0 + 3.0, 2.0 + 4.0]))
    assert not g["E1"][:, [0, 2, 3]].any()


@pytest.mark.parametrize("ids,vocab", [((0, 2, 0, 1), 3), ((1, 1, 1), 2), ((0,), 1), ((3, 0, 3, 2, 3), 4)])
def test_the_scatter_add_is_proven_by_sympy(ids, vocab):
    assert embedding.vjp_holds(ids, vocab)


def test_the_prover_rejects_a_wrong_scatter(monkeypatch):
    """A prover that cannot fail proves nothing: a scatter that keeps only the last occurrence of a token fails."""
    import sympy as sp

    real = sp.diff

    def last_only(expr, sym):  # drops all but one term of each derivative: what a gather-style "assign" does
        out = sp.expand(real(expr, sym))
        return out.args[0] if isinstance(out, sp.Add) else out

    embedding.vjp_holds.cache_clear()
    monkeypatch.setattr(embedding.sp, "diff", last_only)
    try:
        assert not embedding.vjp_holds((0, 2, 0, 1), 3)
    finally:
        monkeypatch.undo()
        embedding.vjp_holds.cache_clear()


def test_derive_prints_the_rule_the_scatter_and_its_proof(run_cli):
    code, out, _ = run_cli("derive", "3-embed5d2-flatten-4:tanh-5:softmax")
    assert code == 0
    assert "Z1[j,t] = E1[j, X[t]] = Σ_v E1[j,v]·[X[t] = v]" in out
    assert "dC_dE1 = scatter_add(dC_dZ1 → columns X of 2×5)   (2×5)" in out
    assert "dZ1_dE1 = KroneckerDelta(v, X[t])   [one-hot, 2×5]" in out
    assert "proven by SymPy: its derivative of Σ G·Z" in out and "NOT proven" not in out
    code, out, _ = run_cli("derive", "3-embed5d2-flatten-4:tanh-5:softmax", "--format", "latex")
    assert code == 0 and r"\operatorname{scatter}" in out


def test_the_python_layers_and_the_spec_are_the_same_network():
    net = Network(3, [Embedding(27, 10), Flatten(), Dense(16, "tanh", "batchnorm"), Dense(27, "softmax")])
    assert net.spec == "3-embed27d10-flatten-16:batchnorm:tanh-27:softmax"
    assert parse_spec(net.spec) == net and net.vocab == 27
    assert net.shapes()["E1"] == (10, 27) and net.shapes()["W2"] == (16, 30)


BAD = [("3-8:relu-embed5d2-flatten-2:softmax", "an embedding reads token ids, so it must be the first layer"),
       ("3-embed5d2-pos4d2-2:softmax", "its table is 2×4 (dim × positions), but its input is 2 features at 3 "
                                       "positions"),
       ("3-embed5d2-flatten-pos3d2-2:softmax", "a position embedding follows the embedding of a sequence network"),
       ("3-embed5d2-4:relu:dropout=0.1-2:softmax", "dropout and batchnorm in a sequence network are not there yet"),
       ("3-embed5d2-pos3-2:softmax", "expected pos{T}d{DIM}, e.g. pos8d16"),
       ("3-embed5d6-attn4-5:softmax", "4 heads do not divide its 6 features"),
       ("3-embed5d2-flatten-attn1-2:softmax", "attention mixes the positions of a sequence network"),
       ("3-embed5d2-attn2:causal-2:softmax", "expected attn{HEADS}[:nocausal], e.g. attn4"),
       ("3-embed5d2-attn-2:softmax", "expected attn{HEADS}[:nocausal]"),
       ("3-embed5d4-res(layernorm+6:relu)-2:softmax", "adds its input to its output, so its layers must give back 4 "
                                                     "features, not 6"),
       ("3-embed5d4-res(4:softmax)-2:softmax", "softmax is for the output layer only, not inside a block"),
       ("3-embed5d4-flatten-res(layernorm+attn2)-2:softmax", "attention mixes the positions of a sequence network"),
       ("3-embed5d4-res(layernorm+attn2-2:softmax", "expected res(LAYER+LAYER+...)"),
       ("3-embed5d4-res(4:relu:dropout=0.5)-2:softmax", "dropout, batchnorm and a layer's own residual are not there"),
       ("3-embed5d2-conv2k1-flatten-2:softmax", "takes an image, but its input is a sequence of 3 positions"),
       ("1x4x4-embed5d2-flatten-2:softmax", "reads token ids, but the input is an image"),
       ("3-embed5-flatten-2:softmax", "expected embed{VOCAB}d{DIM}, e.g. embed27d10"),
       ("3-embed0d2-flatten-2:softmax", "Embedding vocab must be a whole number from 1 to 1,000,000, not 0")]


@pytest.mark.parametrize("spec,message", BAD)
def test_bad_token_specs_are_one_line(run_cli, spec, message):
    code, _, err = run_cli("derive", spec)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def _pattern_csv(path, n=300, seed=0):
    """Three tokens of 5 and the next: (a + 2·b) mod 5 — learnable from the context, not from one token."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 5, (n, 3))
    nxt = (rows[:, 0] + 2 * rows[:, 1]) % 5
    path.write_text("t1,t2,t3,next\n" + "".join(f"{a},{b},{c},{y}\n" for (a, b, c), y in zip(rows, nxt)))
    return path


def test_a_token_model_trains_through_the_cli_saves_and_predicts(run_cli, tmp_path):
    data, out = _pattern_csv(tmp_path / "tokens.csv"), tmp_path / "m.json"
    code, text, err = run_cli("train", str(data), "--net", "3-embed5d4-flatten-16:tanh-5:softmax", "--epochs", "60",
                              "--batch-size", "32", "--optimizer", "adam", "--lr", "0.01", "--out", str(out))
    assert code == 0, err
    assert float(text.split("test accuracy:")[1].split()[0]) >= 0.95
    model = load(out)
    assert model.network.vocab == 5 and model.predict(np.array([[1, 2, 0]]))[0] == 0  # (1 + 4) mod 5
    code, text, err = run_cli("predict", str(out), "1", "2", "0")
    assert code == 0 and text.startswith("class 0")


def test_values_that_are_not_token_ids_are_named_by_row_and_column(run_cli, tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("t1,t2,t3,next\n1,2,3,0\n1,7,2,3\n")
    spec = "3-embed5d4-flatten-4:tanh-5:softmax"
    code, _, err = run_cli("train", str(data), "--net", spec, "--epochs", "1", "--batch-size", "2")
    assert code == 2 and "bad.csv: row 3, column 't2': 7 is not a token id (a whole number from 0 to 4" in err
    data.write_text("t1,t2,t3,next\n1,2,3,0\n1,2.5,2,3\n")
    code, _, err = run_cli("train", str(data), "--net", spec, "--epochs", "1", "--batch-size", "2")
    assert code == 2 and "row 3, column 't2': 2.5 is not a token id" in err
    code, _, err = run_cli("train", str(_pattern_csv(tmp_path / "ok.csv")), "--net", spec, "--epochs", "1",
                           "--batch-size", "8", "--standardize")
    assert code == 2 and "reads token ids: they are not scaled" in err


def test_prediction_refuses_an_unknown_token_by_its_row(run_cli, tmp_path):
    model = tmp_path / "m.json"
    code, _, err = run_cli("train", str(_pattern_csv(tmp_path / "ok.csv")), "--net",
                           "3-embed5d4-flatten-4:tanh-5:softmax", "--epochs", "1", "--batch-size", "8",
                           "--out", str(model))
    assert code == 0, err
    rows = tmp_path / "rows.csv"
    rows.write_text("t1,t2,t3\n1,2,3\n4,0,5\n")
    code, out, err = run_cli("predict", str(model), "--csv", str(rows))
    assert code == 2 and "rows.csv: row 3, column 't3': 5 is not a token id" in err and out == ""
    code, _, err = run_cli("predict", str(model), "1", "9", "0")
    assert code == 2 and "sample 1, column 't2': 9 is not a token id" in err


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_trains_the_same_weights(backend):
    if backend != "numpy":
        pytest.importorskip(backend, reason=f"{backend} is not installed (.ci/run installs it)")
    rng = np.random.default_rng(3)
    X = rng.integers(0, 6, (64, 2)).astype(float)
    y = (X[:, 0] + X[:, 1]).astype(int) % 3
    spec = "2-embed6d3-flatten-5:tanh-3:softmax"
    ref = train(spec, X, y, batch_size=16, epochs=3, seed=1, progress=False)
    got = train(spec, X, y, batch_size=16, epochs=3, seed=1, progress=False, backend=backend)
    for name, value in ref.params.items():
        np.testing.assert_allclose(got.params[name], value, rtol=1e-9, atol=1e-12, err_msg=name)


def test_per_sample_training_refuses_a_token_network_in_one_line():
    X = np.zeros((4, 2))
    with pytest.raises(SymbackpropError, match="has token layers: it trains mini-batches"):
        train("2-embed3d2-flatten-2:softmax", X, np.array([0, 1, 0, 1]), iterations=2, progress=False)


@needs_cc
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec,cost", SPECS[:3], ids=[s for s, _ in SPECS[:3]])
def test_the_c_export_of_a_token_network_compiles_with_werror_and_passes_its_harness(spec, cost, dtype, tmp_path):
    paths = export(parse_spec(spec, cost), "c", tmp_path, "net", dtype=dtype)
    run = compile_and_run(tmp_path, [p for p in paths if p.suffix == ".c"])
    assert run.returncode == 0 and run.stdout.startswith("OK: 0 mismatches"), run.stdout


@pytest.mark.parametrize("to", ["numpy", "jax", "torch"])
def test_the_python_exports_take_token_ids_as_rows(to, tmp_path, monkeypatch):
    if to != "numpy":
        pytest.importorskip(to, reason=f"{to} is not installed (.ci/run installs it)")
    spec = "3-embed5d2-flatten-4:tanh-5:softmax"
    export(spec, to, tmp_path, f"tok_{to}")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(f"tok_{to}")
    d = derive(spec)
    params, X, Y = _problem(d.network, seed=5)
    want, grads = d.compile("numpy")(params, X, Y)
    if to == "numpy":
        rows = {k: (v[:, 0] if k.startswith("B") else v) for k, v in params.items()}
        cost, got = module.gradients(rows, X.T, Y.T)
        assert abs(cost - want) < 1e-12
        np.testing.assert_allclose(got["E1"], grads["E1"], atol=1e-12)
    elif to == "torch":
        import torch

        model = module.Model().double()
        with torch.no_grad():
            for k, v in params.items():
                getattr(model, k).copy_(torch.tensor(v[:, 0] if k.startswith("B") else v))
        logits = model(torch.tensor(X.T))
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(Y.argmax(axis=0)))
        loss.backward()
        assert abs(loss.item() - want) < 1e-12
        np.testing.assert_allclose(model.E1.grad.numpy(), grads["E1"], atol=1e-12)
    else:
        import jax
        import jax.numpy as jnp

        from symbackprop.backends import x64

        with x64(True):
            p = {k: jnp.asarray(v[:, 0] if k.startswith("B") else v) for k, v in params.items()}

            def loss(p):
                logits = module.network(p, jnp.asarray(X.T))
                return -jnp.mean(jnp.sum(jax.nn.log_softmax(logits) * jnp.asarray(Y.T), axis=1))

            value, g = jax.value_and_grad(loss)(p)  # through the export's derived VJP
        assert abs(float(value) - want) < 1e-12
        np.testing.assert_allclose(np.asarray(g["E1"]), grads["E1"], atol=1e-12)


def test_the_report_draws_a_token_network(run_cli, tmp_path):
    out = tmp_path / "r.html"
    code, _, err = run_cli("report", "3-embed5d2-flatten-4:tanh-5:softmax", "--out", str(out))
    assert code == 0, err
    text = out.read_text()
    assert "token ids" in text and "scatter-add" in text and "proven by SymPy" in text


SEQUENCE_SPECS = [("4-embed5d3-pos4d3-6:layernorm:gelu_tanh-5:softmax", "cross_entropy"),
                  ("3-embed7d4-4:relu-4:tanh:residual-7:softmax", "cross_entropy"),
                  ("5-embed6d4-pos5d4-4:gelu:residual-8:layernorm:relu-6:softmax", "cross_entropy"),
                  ("2-embed3d2-pos2d2-1:logistic", "binary_cross_entropy"),
                  ("3-embed4d2-2:identity", "squared_error"),
                  ("1-embed9d3-9:softmax", "cross_entropy"),  # one position: a bigram model
                  # attention: 1-3 heads, causal or not, with the blocks around it
                  ("4-embed5d4-pos4d4-attn2-5:softmax", "cross_entropy"),
                  ("3-embed6d3-attn1:nocausal-6:softmax", "cross_entropy"),
                  ("5-embed7d6-pos5d6-attn3-6:layernorm:gelu_tanh-7:softmax", "cross_entropy"),
                  ("4-embed4d4-pos4d4-attn2:nocausal-4:relu:residual-attn1-4:softmax", "cross_entropy"),
                  ("3-embed5d2-attn2-1:identity", "squared_error"),
                  # GPT-2's block: pre-norm attention and MLP, each added to its input, a final layernorm
                  ("8-embed11d8-pos8d8-res(layernorm+attn2)-res(layernorm+32:gelu_tanh+8:identity)-layernorm"
                   "-11:softmax", "cross_entropy"),
                  ("4-embed6d6-pos4d6-res(layernorm+attn3)-res(layernorm+attn1:nocausal)-res(12:gelu+6:tanh)"
                   "-6:softmax", "cross_entropy")]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec,cost", SEQUENCE_SPECS, ids=[s for s, _ in SEQUENCE_SPECS])
def test_a_sequence_network_agrees_with_pytorch_float64_at_every_position(spec, cost, backend):
    """Dense layers, layernorm, activations, softmax and the cost at each position; the cost the mean over the
    m·T positions, as F.cross_entropy of (m·T, V) logits."""
    d = derive(spec, cost)
    assert d.network.positions == d.network.inputs
    assert_sequence_agrees(d, backend, seed=len(spec), m=4)


def assert_sequence_agrees(d, backend: str, seed: int, m: int) -> None:
    """A sequence network's cost and gradients on ``backend`` against PyTorch float64 at every position, on a
    drawn problem (repeated tokens and samples; skipped where the backend is not installed)."""
    if backend != "numpy":
        pytest.importorskip(backend, reason=f"{backend} is not installed (.ci/run installs it)")
    params, X, Y = _problem(d.network, seed=seed, m=m)
    want_cost, want = torch_sequence_reference(d.network, params, X, Y)
    got_cost, got = d.compile(backend)(params, X, Y)
    assert_agrees(got_cost, got, want_cost, want)


def test_the_positional_table_gets_each_positions_columns_summed_over_the_batch():
    d = derive("3-embed4d2-pos3d2-1:identity", "squared_error")
    params = {"E1": np.zeros((2, 4)), "P2": np.arange(6.0).reshape(2, 3), "W3": np.ones((1, 2)), "B3": np.zeros((1, 1))}
    X = np.zeros((3, 2))
    _, g = d.compile("numpy")(params, X, np.zeros((1, 3, 2)))
    z = params["P2"].sum(axis=0)  # each position's output: P2[0, t] + P2[1, t]
    np.testing.assert_allclose(g["P2"], np.tile(2 * z / 3, (2, 1)))  # mean over 3·2 positions, summed over 2 samples
    np.testing.assert_allclose(g["E1"][:, 0], np.full(2, 2 * z.sum() * 2 / 6))  # every id is 0


def test_a_sequence_network_takes_ids_t_by_m_and_says_so():
    d = derive("3-embed4d2-pos3d2-4:softmax")
    params = {k: np.zeros(s) for k, s in d.network.shapes().items()}
    with pytest.raises(SymbackpropError, match=r"takes token ids X \(3, m\) and targets Y \(4, 3, m\)"):
        d.compile("numpy")(params, np.zeros((2, 5)), np.zeros((4, 2, 5)))


@pytest.mark.parametrize("argv,message", [
    (["export", "3-embed5d3-pos3d3-5:softmax", "--to", "js"], "export --to js is not available for token networks"),
    (["derive", "3-embed5d3-pos3d3-5:softmax", "--entries"], "not available for token networks yet")])
def test_paths_that_take_a_target_per_sample_refuse_a_sequence_network_in_one_line(run_cli, tmp_path, argv, message):
    code, _, err = run_cli(*argv, "--out", str(tmp_path)) if argv[0] == "export" else run_cli(*argv)
    errors = [line for line in err.splitlines() if "error" in line]
    assert code == 2 and message in err and len(errors) == 1 and "Traceback" not in err, err


def test_training_rows_refuses_a_sequence_network_in_one_line(run_cli, tmp_path):
    data = _pattern_csv(tmp_path / "tokens.csv")
    code, _, err = run_cli("train", str(data), "--net", "3-embed5d3-pos3d3-5:softmax", "--epochs", "1",
                           "--batch-size", "8")
    assert code == 2 and "training on rows of features is not there yet for sequence networks" in err


def test_gradcheck_and_the_report_take_a_sequence_network(run_cli, tmp_path):
    spec = "4-embed5d3-pos4d3-6:layernorm:gelu_tanh-5:softmax"
    code, out, err = run_cli("gradcheck", spec)
    assert code == 0 and "OK: every gradient agrees" in out, err
    code, _, err = run_cli("report", spec, "--out", str(tmp_path / "r.html"))
    assert code == 0, err
    assert "dC_dP2[:, t] = Σ_n dC_dZ2[:, t]" in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize("T,causal", [(2, True), (3, True), (3, False)])
def test_the_attention_closed_forms_are_proven_by_sympy(T, causal):
    assert attention.vjp_holds(T, 2, causal)


def test_the_attention_prover_rejects_a_form_without_the_softmax_correction(monkeypatch):
    """A prover that cannot fail proves nothing: dS = P ⊙ dP, the row-sum term left out (a classic mistake), fails."""
    import sympy as sp

    def without_correction(Q, K, V, G, P, scale):
        dS = P.multiply_elementwise(V.T * G)
        return {"q": K * dS * scale, "k": Q * dS.T * scale, "v": G * P.T}

    attention.vjp_holds.cache_clear()
    monkeypatch.setattr(attention, "closed_forms", without_correction)
    try:
        assert not attention.vjp_holds(2, 2, False)
    finally:
        monkeypatch.undo()
        attention.vjp_holds.cache_clear()
    assert isinstance(attention.closed_forms(*(sp.eye(2),) * 5, 1), dict)


def test_derive_prints_the_attention_backward_and_its_proof(run_cli):
    code, out, _ = run_cli("derive", "4-embed5d4-pos4d4-attn2-5:softmax")
    assert code == 0
    assert "# Forward values the backward pass reads again, made each layer's own way." in out
    assert "S3h1 = causal(0.707107 ⊙ K3h1ᵀ · Q3h1, −∞)   (4×4)" in out and "O3h1 = V3h1 · P3h1   (2×4)" in out
    assert "dC_dQ3h1 = 0.707107 ⊙ K3h1 · (causal(dC_dS3h1, 0))   (2×4)" in out
    assert ("dC_dS3h1 = P3h1 ⊙ (dC_dP3h1 − Σ_keys(P3h1 ⊙ dC_dP3h1)) (0 where a key comes after its query: the "
            "mask's zeros)") in out
    assert "proven by SymPy: its derivative of Σ G ⊙ O, written entry by entry, equals these forms" in out
    assert out.count("softmax over the keys (each column)") == 1  # stated once, at the first head


def test_the_key_bias_gets_no_gradient_as_the_softmax_ignores_a_shift():
    """Bk adds Bkᵀ·q to every key's score of a query alike, which the softmax over the keys ignores."""
    d = derive("4-embed5d4-attn2-5:softmax")
    from symbackprop.draws import random_problem

    params, X, Y = random_problem(d.network, np.random.default_rng(0), 3)
    _, g = d.compile("numpy")(params, X, Y)
    assert np.abs(g["Bk2"]).max() < 1e-12 and np.abs(g["Bq2"]).max() > 1e-6


def test_a_gpt2_block_in_python_is_the_spec_network():
    from symbackprop import LayerNorm, PositionalEmbedding, Residual, SelfAttention

    T, dim, vocab = 8, 16, 27
    net = Network(T, [Embedding(vocab, dim), PositionalEmbedding(T, dim), Residual([LayerNorm(), SelfAttention(4)]),
                      Residual([LayerNorm(), Dense(4 * dim, "gelu_tanh"), Dense(dim)]), LayerNorm(),
                      Dense(vocab, "softmax")])
    assert net.spec == ("8-embed27d16-pos8d16-res(layernorm+attn4)-res(layernorm+64:gelu_tanh+16:identity)-layernorm"
                        "-27:softmax")
    assert parse_spec(net.spec) == net and net.positions == 8
    assert net.numbers == (1, 2, 3, 5, 8, 9)  # the blocks' layers take the numbers between
    shapes = net.shapes()
    assert shapes["Wq4"] == shapes["Wo4"] == (16, 16) and shapes["Bv4"] == (16, 1) and shapes["W6"] == (64, 16)


@pytest.mark.parametrize("backend", BACKENDS)
def test_padding_is_left_out_of_the_cost_as_pytorchs_ignore_index(backend):
    """A position whose column of Y is 0 (padding after a line's end) has no target: no cost and no gradient, and
    the mean is over the positions that have one (F.cross_entropy with ignore_index)."""
    if backend != "numpy":
        pytest.importorskip(backend, reason=f"{backend} is not installed (.ci/run installs it)")
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    spec = "5-embed6d4-pos5d4-res(layernorm+attn2)-6:softmax"
    d = derive(spec)
    params, X, Y = _problem(d.network, seed=3, m=3)
    Y[:, 3:, 0] = 0  # the first sequence ends after 3 positions, the second after 1
    Y[:, 1:, 1] = 0
    targets = np.where(Y.sum(axis=0) > 0, Y.argmax(axis=0), -100)  # (T, m)
    want_cost, want = torch_sequence_reference(d.network, params, X, Y, ignore=torch.tensor(targets.T))
    got_cost, got = d.compile(backend)(params, X, Y)
    assert_agrees(got_cost, got, want_cost, want)


SEQ = "4-embed5d4-pos4d4-res(layernorm+attn2)-5:softmax"


def _rows(params):
    """Parameters as an export takes them: biases and norm parameters 1-D."""
    return {k: v[:, 0] if v.ndim == 2 and v.shape[1] == 1 and not k.startswith(("E", "P", "W")) else v
            for k, v in params.items()}


@pytest.mark.parametrize("spec", [SEQ, "4-embed5d4-lstm3-rnn4:relu-5:softmax"], ids=["attention", "recurrent"])
@pytest.mark.parametrize("to", ["numpy", "jax", "torch"])
def test_the_python_exports_of_a_sequence_network_take_ids_as_rows_and_answer_per_position(to, spec, tmp_path,
                                                                                           monkeypatch):
    """ids (m, T) in, (m, T, V) logits out; the cost of next ids (m, T) and its gradients equal compile()'s; PyTorch's
    Model and JAX's network backpropagate with the derived VJP (through attention, or back through time)."""
    if to != "numpy":
        pytest.importorskip(to, reason=f"{to} is not installed (.ci/run installs it)")
    from symbackprop.draws import random_problem

    name = f"seq_{to}_{len(spec)}"
    export(spec, to, tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    d = derive(spec)
    params, X, Y = random_problem(d.network, np.random.default_rng(0), 3)
    want_cost, want = d.compile("numpy")(params, X, Y)
    nxt, rows = Y.argmax(axis=0).T, _rows(params)  # (m, T) next ids
    if to == "numpy":
        cost, got = module.gradients(rows, X.T, nxt)
        assert module.forward(rows, X.T).shape == (3, 4, 5)
        np.testing.assert_allclose(module.predict_proba(rows, X.T).sum(axis=-1), 1.0)
    elif to == "torch":
        import torch

        model = module.Model(dtype=torch.float64)
        with torch.no_grad():
            for k, v in rows.items():
                getattr(model, k).copy_(torch.tensor(v))
        logits = model(torch.tensor(X.T))
        assert tuple(logits.shape) == (3, 4, 5)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 5), torch.tensor(nxt.reshape(-1)))
        loss.backward()
        cost, got = loss.item(), {k: getattr(model, k).grad.numpy() for k in rows}
    else:
        import jax
        import jax.numpy as jnp

        from symbackprop.backends import x64

        with x64(True):
            def loss(p):
                logp = jax.nn.log_softmax(module.network(p, jnp.asarray(X.T)))
                return -jnp.mean(jnp.take_along_axis(logp, jnp.asarray(nxt)[..., None], axis=-1))

            value, g = jax.value_and_grad(loss)({k: jnp.asarray(v) for k, v in rows.items()})
        cost, got = float(value), {k: np.asarray(v) for k, v in g.items()}
    assert abs(cost - want_cost) < 1e-12
    for name, value in want.items():
        np.testing.assert_allclose(np.asarray(got[name]).reshape(value.shape), value, atol=1e-12, err_msg=name)


GPT = ("8-embed11d8-pos8d8-res(layernorm+attn2)-res(layernorm+32:gelu_tanh+8:identity)-layernorm-11:softmax",
       "cross_entropy")
C_SEQUENCES = [GPT, ("4-embed5d4-pos4d4-attn2-5:softmax", "cross_entropy"),
               ("3-embed6d3-attn1:nocausal-6:softmax", "cross_entropy"),
               ("5-embed6d4-pos5d4-4:gelu:residual-8:layernorm:relu-6:softmax", "cross_entropy"),
               ("2-embed3d2-pos2d2-1:logistic", "binary_cross_entropy"),
               ("3-embed5d2-attn2-1:identity", "squared_error")]


@needs_cc
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("spec,cost", C_SEQUENCES, ids=[s for s, _ in C_SEQUENCES])
def test_the_c_export_of_a_sequence_network_compiles_with_werror_and_passes_its_harness(spec, cost, dtype, tmp_path):
    """x[T] ids, y and out [T·n] position after position; the cost and gradients the mean over the positions."""
    paths = export(parse_spec(spec, cost), "c", tmp_path, "net", dtype=dtype)
    run = compile_and_run(tmp_path, [p for p in paths if p.suffix == ".c"])
    assert run.returncode == 0 and run.stdout.startswith("OK: 0 mismatches"), run.stdout


@needs_cc
def test_the_c_export_of_a_gpt_block_reproduces_pytorch_float32(tmp_path):
    """The derived counterpart of llm.c's train_gpt2.c: plain C99 (forward, derived backward, SGD and AdamW
    steps) whose harness, with golden values computed by PyTorch in float32 (F.scaled_dot_product_attention,
    F.layer_norm, F.gelu(approximate="tanh"), F.cross_entropy), agrees to 1e-4 in norm, parameter by parameter."""
    worst = c_matches_pytorch_float32(parse_spec(*GPT), tmp_path, "gpt")
    assert worst < 1e-4


def c_matches_pytorch_float32(network, tmp_path, name: str) -> float:
    """Export ``network`` to C in float32 (with an AdamW step), run its harness on golden values that PyTorch
    computes in float32, sample by sample; returns the worst ‖g − g_ref‖ / ‖g_ref‖ the harness measured."""
    from symbackprop.backends import c_harness, program_of
    from symbackprop.draws import random_problem

    params, X, Y = random_problem(network, np.random.default_rng(1), 3)
    params = {k: (v * 0.5).astype(np.float32).astype(float) for k, v in params.items()}  # exactly float32 values
    costs, grads, outs = [], [], []
    for k in range(X.shape[1]):  # one sample at a time, as the C functions take them
        out: list = []
        cost, g = torch_sequence_reference(network, params, X[:, [k]], Y[..., [k]], dtype="float32", outputs=out)
        costs.append(cost)
        grads.append({name: v.astype(float) for name, v in g.items()})
        outs.append(out[0][0].reshape(-1))  # (T, V), position after position
    paths = export(network, "c", tmp_path, name, dtype="float32", optimizer="adamw")
    body = (tmp_path / f"{name}.c").read_text()
    assert f"{name}_sgd_step" in body and f"{name}_optimizer_step" in body and "adamw" in body.lower()
    test, sources = tmp_path / f"test_{name}.c", [p for p in paths if p.suffix == ".c" and p.name != f"test_{name}.c"]
    worst = 0.0
    for norm in (1e-4, 1e-30):  # the check, then every parameter's measure (each "above" a tolerance of 1e-30)
        test.write_text(c_harness.harness(program_of(network), name, "float32", params, X.T,
                                       Y.transpose(2, 1, 0).reshape(X.shape[1], -1), np.array(outs),
                                       np.array(costs), grads, norm=norm,
                                       source="PyTorch float32 (in symbackprop's tests)"))
        run = compile_and_run(tmp_path, [*sources, test])
        if norm == 1e-4:
            assert run.returncode == 0 and run.stdout.startswith("OK: 0 mismatches"), run.stdout
        else:
            worst = max(float(v) for v in re.findall(r"= ([0-9.e+-]+), above", run.stdout))
    return worst
