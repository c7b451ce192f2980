"""check calls real-style code as written (issue 20): a course's class with self.params and loss(X, y, reg), a deeper
one with hidden_dims and reg in __init__, a book's Network(sizes).backprop(x, y) answering (nabla_b, nabla_w) for one
sample, a deep-learning course's backward functions taking a cache from their forward function, and --reg with each
course's L2 convention. The files in examples/as_written/ are written as students write them, not for symbackprop."""

from __future__ import annotations

from pathlib import Path

import pytest

WRITTEN = Path(__file__).parent.parent / "examples" / "as_written"

# (spec, FILE:NAME in tests/written, more options, what a correct one's report says)
CORRECT = [
    ("4-10:relu-3:softmax", "two_layer_net.py:TwoLayerNet.loss", ["--reg", "0.1"],
     "regularisation: reg·ΣW² (dW += 2·reg·W), told from your gradients (--reg 0.1)"),
    ("4-10:relu-3:softmax", "two_layer_net.py:TwoLayerNet.loss", [], "layout: rows"),
    ("4-6:relu-5:relu-3:softmax", "fc_net.py:FullyConnectedNet.loss", ["--reg", "0.3"],
     "regularisation: ½·reg·ΣW² (dW += reg·W), told from your gradients (--reg 0.3)"),
    ("3-4:sigmoid-2:sigmoid", "book_network.py:Network.backprop", ["--cost", "half_squared_error"],
     "fed one sample at a time and the mean of its gradients over the batch compared"),
    ("2-4:tanh-1:logistic", "planar.py:backward_propagation", ["--cost", "binary_cross_entropy"],
     "the cache is made by your forward_propagation"),
    ("3-5:relu-4:relu-1:logistic", "deep.py:L_model_backward", ["--cost", "binary_cross_entropy"],
     "also returned, not checked (gradients of values, not of parameters): dA0, dA1, dA2"),
    ("3-5:relu-4:relu-1:logistic", "regularization.py:backward_propagation_with_regularization",
     ["--cost", "binary_cross_entropy", "--reg", "0.7"],
     "regularisation: λ/(2m)·ΣW² (dW += (λ/m)·W), told from your gradients (--reg 0.7)"),
]


@pytest.mark.parametrize("spec, target, options, note", CORRECT, ids=[c[1] + " " + " ".join(c[2]) for c in CORRECT])
def test_correct_code_as_written_passes(run_cli, spec, target, options, note):
    code, out, err = run_cli("check", spec, f"{WRITTEN / target}", *options)
    assert code == 0, err + out
    assert "OK: every gradient agrees" in out and note in out, out


MISTAKES = [
    ("4-10:relu-3:softmax", "two_layer_net.py:ForgotRegNet.loss", ["--reg", "0.1"],
     "→ your dW1 leaves out the regularisation's derivative: add 2·reg·W1 (the derivative of reg·ΣW²)"),
    ("4-10:relu-3:softmax", "two_layer_net.py:MeanBiasNet.loss", [],
     "→ your db2 is 1/m of the correct value"),
    ("3-4:sigmoid-2:sigmoid", "book_network.py:Network.backprop", [],
     "→ your nabla_w[1] is half the correct value: a factor 2 is missing (d(A − Y)²/dA = 2(A − Y); if your cost is "
     "½‖A − Y‖², check with --cost half_squared_error)"),
    ("3-4:sigmoid-2:sigmoid", "book_network.py:SigmoidAtActivation.backprop", ["--cost", "half_squared_error"],
     "→ your nabla_w[0] takes dA1_dZ1 at A1 instead of Z1"),
    ("2-4:tanh-1:logistic", "planar.py:backward_propagation_no_tanh", ["--cost", "binary_cross_entropy"],
     "→ your dW1 equals the chain without dA1_dZ1"),
    ("2-4:tanh-1:logistic", "planar.py:backward_propagation_db_per_sample", ["--cost", "binary_cross_entropy"],
     "→ your db1 has one column per sample, 1/m already applied (db = dZ / m): sum it over the batch (axis 1)"),
    ("4-6:relu-5:relu-3:softmax", "fc_net.py:SummedFullyConnectedNet.loss", [],
     "→ your dW1 is m times the correct value (a sum over the batch, not the mean): divide by the batch size"),
    ("3-5:relu-4:relu-1:logistic", "deep.py:L_model_backward_db_unscaled", ["--cost", "binary_cross_entropy"],
     "→ your db2 is m times the correct value"),
    ("3-5:relu-4:relu-1:logistic", "regularization.py:backward_propagation_forgot_reg",
     ["--cost", "binary_cross_entropy", "--reg", "0.7"],
     "→ your dW1 leaves out the regularisation's derivative: add (λ/m)·W1 (the derivative of λ/(2m)·ΣW²)"),
]


@pytest.mark.parametrize("spec, target, options, named", MISTAKES, ids=[c[1] for c in MISTAKES])
def test_each_mistake_is_named_in_the_users_terms(run_cli, spec, target, options, named):
    code, out, err = run_cli("check", spec, f"{WRITTEN / target}", *options)
    assert code == 1 and "FAIL" in out, err + out
    assert named in out, out


def test_a_class_given_the_wrong_sizes_or_an_unfillable_argument_is_one_line(run_cli, tmp_path):
    (tmp_path / "net.py").write_text(
        "import numpy as np\n\n"
        "class Net:\n"
        "    def __init__(self, input_size, hidden_size, output_size, activation_name):\n"
        "        self.params = {}\n\n"
        "    def loss(self, X, y=None, reg=0.0):\n"
        "        return 0.0, {}\n\n"
        "class Bare:\n"
        "    def __init__(self, sizes):\n"
        "        self.layers = sizes\n\n"
        "    def backprop(self, x, y):\n"
        "        return [], []\n")
    for target, message in ((f"{tmp_path / 'net.py'}:Net.loss", "cannot fill Net.__init__'s argument "
                                                                 "'activation_name'"),
                            (f"{tmp_path / 'net.py'}:Net.fit", "class Net has no method 'fit' (it has: loss)"),
                            (f"{tmp_path / 'net.py'}:Nope.loss", "has no class 'Nope'"),
                            (f"{tmp_path / 'net.py'}:Bare.backprop",
                             "Bare keeps its parameters neither in self.params (a dict) nor in self.weights and "
                             "self.biases (lists)")):
        code, out, err = run_cli("check", "4-10:relu-3:softmax", target)
        assert code == 2 and message in err and len(err.strip().splitlines()) <= 2, (target, err)


def test_a_cache_needs_a_forward_function_and_reg_must_be_a_number_at_least_0(run_cli, tmp_path):
    (tmp_path / "b.py").write_text(
        "def backward(parameters, cache, X, Y):\n    return {}\n\n"
        "def my_forward_pass(X, parameters):\n    return X, {'A0': X}\n")
    code, _, err = run_cli("check", "2-4:tanh-1:logistic", f"{tmp_path / 'b.py'}:backward")
    assert code == 2 and "takes a cache, but the module has no forward function" in err and "--forward NAME" in err
    code, _, err = run_cli("check", "2-4:tanh-1:logistic", f"{tmp_path / 'b.py'}:backward", "--forward", "nothing")
    assert code == 2 and "--forward nothing: the module has no such function" in err
    code, out, err = run_cli("check", "2-4:tanh-1:logistic", f"{tmp_path / 'b.py'}:backward", "--forward",
                             "my_forward_pass")
    assert code == 1 and "missing from the returned gradients" in out, err + out
    code, _, err = run_cli("check", "2-4:tanh-1:logistic", f"{WRITTEN / 'planar.py'}:backward_propagation",
                           "--reg", "-1")
    assert code == 2 and "--reg must be a number of at least 0, not -1" in err


def test_an_argument_check_cannot_fill_is_named(run_cli, tmp_path):
    (tmp_path / "f.py").write_text("def grads(parameters, X, Y, learning_rate):\n    return {}\n")
    code, _, err = run_cli("check", "2-4:tanh-1:logistic", f"{tmp_path / 'f.py'}:grads")
    assert code == 2 and "cannot fill its argument 'learning_rate'" in err and "reg/lambd (--reg)" in err


def test_without_reg_a_course_function_taking_lambd_gets_0_and_passes_without_the_penalty(run_cli):
    code, out, err = run_cli("check", "3-5:relu-4:relu-1:logistic",
                             f"{WRITTEN / 'regularization.py'}:backward_propagation_with_regularization",
                             "--cost", "binary_cross_entropy")
    assert code == 0 and "note: your lambd is given 0: --reg R checks the regularisation too" in out, err + out
    assert "regularisation:" not in out


def test_bias_free_code_checks_against_a_bias_free_spec(run_cli, tmp_path):
    """A net written without biases (as nn.Linear(bias=False) has it): correct against 4-5:relu:nobias-3:softmax:nobias;
    against the spec with biases, the missing biases are what fails."""
    (tmp_path / "nb.py").write_text(
        "import numpy as np\n\n"
        "def loss(params, X, y):\n"
        "    W1, W2 = params['W1'], params['W2']\n"
        "    N = X.shape[0]\n"
        "    h = np.maximum(0, X @ W1)\n"
        "    s = h @ W2\n"
        "    p = np.exp(s - s.max(axis=1, keepdims=True))\n"
        "    p /= p.sum(axis=1, keepdims=True)\n"
        "    loss = -np.log(p[np.arange(N), y]).mean()\n"
        "    d = p.copy()\n"
        "    d[np.arange(N), y] -= 1\n"
        "    d /= N\n"
        "    dh = d @ W2.T * (h > 0)\n"
        "    return loss, {'W1': X.T @ dh, 'W2': h.T @ d}\n")
    code, out, err = run_cli("check", "4-5:relu:nobias-3:softmax:nobias", f"{tmp_path / 'nb.py'}:loss")
    assert code == 0 and "OK: every gradient agrees" in out, err + out
    code, out, err = run_cli("check", "4-5:relu-3:softmax", f"{tmp_path / 'nb.py'}:loss")
    assert code == 1 and "missing from the returned gradients" in out, err + out
