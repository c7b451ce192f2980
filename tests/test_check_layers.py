"""check --layer (issue 20): one layer's backward function as a course's layers.py writes it, its cache made by the
matching *_forward, against the derived pullback of that layer; each correct one passes, each classic mistake is
named. examples/as_written/layers.py is written as students write it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

LAYERS = Path(__file__).parent.parent / "examples" / "as_written" / "layers.py"


@pytest.mark.parametrize("kind, func", [("affine", "affine_backward"), ("relu", "relu_backward"),
                                        ("batchnorm", "batchnorm_backward"), ("layernorm", "layernorm_backward"),
                                        ("dropout", "dropout_backward"), ("softmax_loss", "softmax_loss"),
                                        ("svm_loss", "svm_loss"),
                                        ("conv", "conv_backward_naive"), ("max_pool", "max_pool_backward_naive")])
def test_each_correct_layer_function_passes(run_cli, kind, func):
    code, out, err = run_cli("check", "--layer", kind, f"{LAYERS}:{func}")
    assert code == 0 and "OK: every gradient agrees" in out, err + out


@pytest.mark.parametrize("kind, func, named", [
    ("affine", "affine_backward_db_per_sample", "→ your db has one row per sample: sum it over the batch (axis 0)"),
    ("affine", "affine_backward_dw_transposed", "→ your dw is transposed"),
    ("softmax_loss", "softmax_loss_summed", "→ your dx is N times the correct value"),
    ("batchnorm", "batchnorm_backward_no_mean_terms", "→ no known mistake reproduces your numbers"),
    ("svm_loss", "svm_loss_forgot_correct_class", "✗ dx"),
])
def test_each_mistake_is_named(run_cli, kind, func, named):
    code, out, err = run_cli("check", "--layer", kind, f"{LAYERS}:{func}")
    assert code == 1 and named in out, err + out


def test_sigmoid_and_tanh_layers_written_inline(run_cli, tmp_path):
    (tmp_path / "acts.py").write_text(
        "import numpy as np\n\n"
        "def sigmoid_forward(x):\n    out = 1 / (1 + np.exp(-x))\n    return out, out\n\n"
        "def sigmoid_backward(dout, cache):\n    return dout * cache * (1 - cache)\n\n"
        "def tanh_forward(x):\n    out = np.tanh(x)\n    return out, out\n\n"
        "def tanh_backward(dout, cache):\n    return dout * (1 - cache)  # the square forgotten\n")
    code, out, err = run_cli("check", "--layer", "sigmoid", f"{tmp_path / 'acts.py'}:sigmoid_backward")
    assert code == 0, err + out
    code, out, err = run_cli("check", "--layer", "tanh", f"{tmp_path / 'acts.py'}:tanh_backward")
    assert code == 1 and "✗ dx" in out, err + out


def test_the_reference_is_the_layer_itself():
    """Independently of any user code: the derived pullback of each kind equals NumPy's own formulas."""
    from symbackprop.check.layers import KINDS, _draw, _module, _reference

    rng = np.random.default_rng(3)
    sizes = {"N": 3, "D": 4, "M": 5}
    args, params = _draw(KINDS["affine"], rng, sizes)
    x, w, b = args
    dout = rng.normal(size=(3, 5))
    got = _reference(KINDS["affine"], _module(KINDS["affine"], sizes), args, params, dout, None)
    np.testing.assert_allclose(got["dx"], dout @ w.T)
    np.testing.assert_allclose(got["dw"], x.T @ dout)
    np.testing.assert_allclose(got["db"], dout.sum(axis=0))
    sizes = {"N": 3, "D": 4, "M": 4}
    args, params = _draw(KINDS["tanh"], rng, sizes)
    dout = rng.normal(size=(3, 4))
    got = _reference(KINDS["tanh"], _module(KINDS["tanh"], sizes), args, params, dout, None)
    np.testing.assert_allclose(got["dx"], dout * (1 - np.tanh(args[0]) ** 2))


def test_the_image_references_equal_pytorch():
    """conv and max_pool's derived pullbacks against torch.nn.functional's autograd in float64."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (the test extra has it)")
    from symbackprop.check.layers import KINDS, _draw, _module, _reference, _sizes

    rng = np.random.default_rng(5)
    for name in ("conv", "max_pool"):
        for _ in range(3):
            kind = KINDS[name]
            sizes = _sizes(kind, rng)
            args, params = _draw(kind, rng, sizes)
            x = torch.tensor(args[0], requires_grad=True)
            if name == "conv":
                w, b = (torch.tensor(a, requires_grad=True) for a in args[1:3])
                out = torch.nn.functional.conv2d(x, w, b, stride=sizes["S"], padding=sizes["P"])
            else:
                out = torch.nn.functional.max_pool2d(x, sizes["K"], stride=sizes["S"])
            dout = rng.normal(size=tuple(out.shape))
            out.backward(torch.tensor(dout))
            got = _reference(kind, _module(kind, sizes), args, params, dout, None)
            np.testing.assert_allclose(got["dx"], x.grad.numpy(), rtol=1e-10, atol=1e-12)
            if name == "conv":
                np.testing.assert_allclose(got["dw"], w.grad.numpy(), rtol=1e-10, atol=1e-12)
                np.testing.assert_allclose(got["db"], b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_bad_layer_options_are_one_line(run_cli, tmp_path):
    for argv, message in (
            (["--layer", "gru_step", f"{LAYERS}:softmax_loss"], "--layer must be one of affine, relu"),
            (["--layer", "rnn_step", f"{LAYERS}:softmax_loss"], "layers.py: TypeError: softmax_loss() takes 2 "
                                                                "positional arguments but 5 were given"),
            (["--layer", "affine", f"{LAYERS}:nope"], "has no function 'nope'"),
            (["--layer", "affine", "3-3:relu-1:logistic", f"{LAYERS}:affine_backward"], "takes FILE.py:FUNC only"),
            (["--layer", "affine", f"{LAYERS}:affine_backward", "--forward", "made_up"], "has no made_up")):
        code, _, err = run_cli("check", *argv)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (argv, err)
    (tmp_path / "d.py").write_text("def dropout_forward(x, p):\n    return x, None\n\n"
                                   "def dropout_backward(dout, cache):\n    return dout\n")
    code, _, err = run_cli("check", "--layer", "dropout", f"{tmp_path / 'd.py'}:dropout_backward")
    assert code == 2 and "holds no array of x's shape" in err
    (tmp_path / "s.py").write_text("def lstm_step_forward(x, h, c, Wx, Wh, b):\n    return h, None\n\n"
                                   "def lstm_step_backward(dh, dc, cache):\n    return dh\n")
    code, _, err = run_cli("check", "--layer", "lstm_step", f"{tmp_path / 's.py'}:lstm_step_backward")
    assert code == 2 and "lstm_step_forward returned 2 value(s); lstm_step's forward returns 2 output(s) and the " \
        "cache" in err and len(err.strip().splitlines()) == 1, err


def test_a_bug_of_symbackprop_in_the_checking_process_is_never_blamed_on_the_users_code():
    from symbackprop.isolate import in_child

    def ours():
        raise KeyError("C")  # what an unformatted template once raised in the child

    with pytest.raises(RuntimeError, match="symbackprop failed while checking x.py:f; its traceback") as info:
        in_child(ours, "x.py:f")
    assert "KeyError: 'C'" in str(info.value) and "os._exit" not in str(info.value)


def test_the_multiclass_hinge_equals_pytorchs_multi_margin_loss():
    """The built-in cost svm_loss is checked against: derived gradients of a network under it equal PyTorch's
    autograd of F.multi_margin_loss (which averages over the C classes: times C, it is the hinge summed)."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (the test extra has it)")
    from symbackprop import derive
    from symbackprop.draws import random_problem

    d = derive("3-4:tanh-3:identity", "multiclass_hinge")
    params, X, Y = random_problem(d.network, np.random.default_rng(7), 5)
    cost, grads = d.compile("numpy")(params, X, Y)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    scores = (t["W2"] @ torch.tanh(t["W1"] @ torch.tensor(X) + t["B1"]) + t["B2"]).T
    ref = torch.nn.functional.multi_margin_loss(scores, torch.tensor(np.argmax(Y, axis=0)), margin=1.0) * 3
    ref.backward()
    assert cost == pytest.approx(ref.item(), rel=1e-12)
    for k in params:
        np.testing.assert_allclose(grads[k], t[k].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sizes_can_be_given_and_bad_ones_are_one_line(run_cli):
    code, out, err = run_cli("check", "--layer", "affine", f"{LAYERS}:affine_backward", "--sizes", "N=7,D=2,M=9")
    assert code == 0 and "5 draws of N=7, D=2, M=9 and the rest random" in out and "✓ dx   (7, 2)" in out, err
    code, out, err = run_cli("check", "--layer", "conv", f"{LAYERS}:conv_backward_naive", "--sizes",
                             "H=5,K=3,S=2,P=1,F=2")
    assert code == 0 and "✓ dw   (2, " in out, err + out
    for sizes, message in (("N=0", "N (samples) must be a whole number from 1 to 64, not '0'"),
                           ("Q=1", "'Q=1' is not NAME=NUMBER"), ("D=1000", "from 1 to 64"),
                           ("H=4,K=3,S=2", "no conv layer fits them")):
        code, _, err = run_cli("check", "--layer", "conv", f"{LAYERS}:conv_backward_naive", "--sizes", sizes)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (sizes, err)


RNN_LAYERS = Path(__file__).parent.parent / "examples" / "as_written" / "rnn_layers.py"
ATTENTION = RNN_LAYERS.parent / "attention.py"
GELU = RNN_LAYERS.parent / "gelu.py"


@pytest.mark.parametrize("layer, func, code", [
    ("gelu_tanh", "gelu_tanh_backward", 0), ("gelu_tanh", "gelu_tanh_backward_without_the_cube", 1),
    ("gelu", "gelu_backward", 0), ("gelu", "gelu_tanh_backward", 1)])  # the approximation is not the exact GELU
def test_gelu_written_as_llm_c_computes_it_is_checked(run_cli, layer, func, code):
    got, out, err = run_cli("check", "--layer", layer, f"{GELU}:{func}")
    assert got == code and f"{{D}}-{{D}}:{layer}".replace("{D}", "D") in out, err + out
    assert ("OK: every gradient agrees" if code == 0 else "FAIL: 1 of 1 parameters disagree") in out


@pytest.mark.parametrize("func, code, shown", [
    ("word_embedding_backward", 0, "OK: every gradient agrees"),
    ("word_embedding_backward_buffered", 1, "→ your dW counts a repeated token once: dW[x] += dout buffers (the last "
                                            "write wins); add with np.add.at(dW, x, dout)"),
    ("word_embedding_backward_transposed", 1, "→ your dW is transposed")])
def test_a_word_embedding_backward_is_checked_against_the_derived_scatter_add(run_cli, func, code, shown):
    got, out, err = run_cli("check", "--layer", "word_embedding", f"{RNN_LAYERS}:{func}")
    assert got == code and shown in out, err + out
    assert "N 2-4 samples of T 2-4 tokens of V 3-5" in out


def test_word_embedding_sizes_can_be_given(run_cli):
    code, out, err = run_cli("check", "--layer", "word_embedding", f"{RNN_LAYERS}:word_embedding_backward",
                             "--sizes", "N=2,T=6,V=3,D=4")
    assert code == 0 and "✓ dW   (3, 4)" in out, err + out


@pytest.mark.parametrize("layer, func, code, shown", [
    ("rnn_step", "rnn_step_backward", 0, "OK: every gradient agrees"),
    ("rnn_step", "rnn_step_backward_at_the_input", 1, "FAIL: 5 of 5 parameters disagree"),
    ("rnn", "rnn_backward", 0, "OK: every gradient agrees"),
    ("rnn", "rnn_backward_without_time", 1, "→ your dx has no backpropagation through time: each step took only "
                                            "dh[:, t], not dh[:, t] plus the dprev_h the step after it sent back"),
    ("lstm", "lstm_backward", 0, "OK: every gradient agrees"),
    ("lstm_step", "lstm_step_backward", 0, "OK: every gradient agrees"),
    ("lstm_step", "lstm_step_backward_without_dnext_c", 1,
     "→ your dprev_c leaves out dnext_c: the cell's gradient is dnext_c + dnext_h ⊙ o ⊙ (1 − tanh²(next_c))"),
    ("temporal_affine", "temporal_affine_backward", 0, "OK: every gradient agrees"),
    ("temporal_softmax_loss", "temporal_softmax_loss", 0, "OK: every gradient agrees"),
    ("temporal_softmax_loss", "temporal_softmax_loss_unmasked_gradient", 1,
     "→ your dx is not masked: the loss leaves the masked positions out, but their gradient (softmax − one-hot) is "
     "still there; multiply it by the mask")])
def test_a_courses_recurrent_layers_are_checked_against_the_derived_bptt(run_cli, layer, func, code, shown):
    """rnn_layers.py as a course writes it: x (N, T, D), weights (D, H), an LSTM's gates i, f, o, g."""
    got, out, err = run_cli("check", "--layer", layer, f"{RNN_LAYERS}:{func}")
    assert got == code and shown in out, err + out


@pytest.mark.parametrize("func, code, shown", [
    ("attention_backward", 0, "OK: every gradient agrees"),
    ("attention_backward_softmax_as_elementwise", 1,
     "→ your dq leaves out the softmax's Σ term: dS = P ⊙ (dP − Σ_keys(P ⊙ dP)), not P ⊙ dP")])
def test_attention_written_as_llm_c_computes_it_is_checked(run_cli, func, code, shown):
    got, out, err = run_cli("check", "--layer", "attention", f"{ATTENTION}:{func}", "--sizes", "T=4")
    assert got == code and shown in out and "(3D)-attn3-(3D)" in out, err + out
    if code:
        assert "✓ dv" in out  # the slip leaves dv right


def test_the_attention_slips_are_what_they_say(monkeypatch):
    """Each named slip is a wrong answer the check recognises, not the right one."""
    from symbackprop.check import sequence_layers

    rng = np.random.default_rng(0)
    q, k, v, dout = (rng.normal(size=(2, 3, 4)) for _ in range(4))
    slips = sequence_layers._attention_slips(q, k, v, dout)
    (softmax, scale) = slips.values()
    assert not np.allclose(softmax[0], scale[0]) and np.allclose(softmax[2], scale[2])
    np.testing.assert_allclose(scale[0] / 2, _correct_dq(q, k, v, dout))  # √4 = 2 times the right dq


def _correct_dq(q, k, v, dout):
    import torch

    qt = torch.tensor(q, requires_grad=True)
    out = torch.nn.functional.scaled_dot_product_attention(qt, torch.tensor(k), torch.tensor(v), is_causal=True)
    out.backward(torch.tensor(dout))
    return qt.grad.numpy()


def test_an_lstm_step_is_torchs_lstm_cell(run_cli):
    """The reference of ``lstm_step`` is nn.LSTMCell's gradients (float64), the gates reordered."""
    torch = pytest.importorskip("torch")
    from symbackprop.check import sequence_layers
    from symbackprop.check.layers import KINDS, _module, _sizes

    rng = np.random.default_rng(3)
    sizes = _sizes(KINDS["lstm_step"], rng, {"N": 3, "D": 4, "M": 2})
    (x, h, c, Wx, Wh, b), params = sequence_layers.draw("lstm_step", rng, sizes)
    cell = torch.nn.LSTMCell(4, 2).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor(params["Wx1"]))
        cell.weight_hh.copy_(torch.tensor(params["Wh1"]))
        cell.bias_ih.copy_(torch.tensor(params["B1"][:, 0]))
        cell.bias_hh.zero_()
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    dh, dc = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    h2, c2 = cell(xt, (ht, ct))
    torch.autograd.backward([h2, c2], [torch.tensor(dh), torch.tensor(dc)])
    got = sequence_layers.reference("lstm_step", _module(KINDS["lstm_step"], sizes), (x, h, c), params, (dh, dc))
    order = sequence_layers._gates(2)
    for name, want in (("dx", xt.grad), ("dprev_h", ht.grad), ("dprev_c", ct.grad),
                       ("dWx", cell.weight_ih.grad.T[:, order]), ("dWh", cell.weight_hh.grad.T[:, order]),
                       ("db", cell.bias_ih.grad[order])):
        np.testing.assert_allclose(got[name], want.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_a_recurrent_check_takes_sizes_and_names_how_it_maps_the_layer(run_cli):
    code, out, err = run_cli("check", "--layer", "lstm", f"{RNN_LAYERS}:lstm_backward", "--sizes", "N=2,T=5,D=3,M=4")
    assert code == 0 and "✓ dWx  (3, 16)" in out and "✓ dh0  (2, 4)" in out, err + out
    assert "the gates i, f, o, g reordered as PyTorch's i, f, g, o" in out and "T-embed(N·T)dD-lstmM-M" in out


def test_the_help_names_every_layer_kind():
    from symbackprop.check.layers import KINDS
    from symbackprop.cli import build_parser

    check = build_parser()._subparsers._group_actions[0].choices["check"]
    text = " ".join(check.format_help().split())
    assert all(kind in text for kind in KINDS), [k for k in KINDS if k not in text]
