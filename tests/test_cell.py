"""One LSTM step as a layer (``lstmcell{M}``, layers/cell.py): against PyTorch's nn.LSTMCell in float64 on every
backend, its backward proven by SymPy, shown, exported to C, refused where it does not fit."""

from __future__ import annotations

import numpy as np
import pytest
from networks import assert_agrees
from test_export import compile_and_run, needs_cc

from symbackprop import LSTMCell, derive, parse_spec, train
from symbackprop.draws import random_problem
from symbackprop.export import export
from symbackprop.layers import cell

SPECS = [("7-lstmcell2-4:tanh-2:softmax", "cross_entropy"),
         ("5-3:tanh-lstmcell1-1:identity", "squared_error"),  # the state made by a layer before it
         ("9-lstmcell3-lstmcell1-2:logistic", "binary_cross_entropy")]  # a step's [h'; c'] as the next's [x; h; c]


def _torch_reference(network, params, X, Y):
    """The same network in PyTorch float64, nn.LSTMCell for each cell: (mean cost, gradients by name)."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    F = torch.nn.functional
    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    a = torch.tensor(X.T)
    for number, layer in zip(network.numbers, network.layers):
        if isinstance(layer, LSTMCell):
            H = layer.hidden
            n = a.shape[1] - 2 * H
            gates = a[:, :n] @ P[f"Wx{number}"].T + a[:, n:n + H] @ P[f"Wh{number}"].T + P[f"B{number}"][:, 0]
            i, f, g, o = gates.split(H, dim=1)
            c = torch.sigmoid(f) * a[:, n + H:] + torch.sigmoid(i) * torch.tanh(g)
            a = torch.cat([torch.sigmoid(o) * torch.tanh(c), c], dim=1)
            continue
        z = a @ P[f"W{number}"].T + P[f"B{number}"][:, 0]
        a = {"tanh": torch.tanh, "identity": lambda t: t, "logistic": torch.sigmoid,
             "softmax": lambda t: t}[layer.activation.name](z)
    target = torch.tensor(Y.T)
    if network.cost.name == "cross_entropy":
        cost = F.cross_entropy(a, target.argmax(dim=1))
    elif network.cost.name == "binary_cross_entropy":
        cost = F.binary_cross_entropy(a, target, reduction="sum") / len(a)
    else:
        cost = ((a - target) ** 2).sum() / len(a)
    cost.backward()
    return float(cost.detach()), {k: v.grad.numpy() for k, v in P.items()}


def test_the_layer_is_torchs_lstm_cell():
    """nn.LSTMCell itself (its weights, bias_ih + bias_hh as B) gives the layer's [h'; c']."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    d = derive("7-lstmcell2-4:identity", "squared_error")
    params, X, _ = random_problem(d.network, np.random.default_rng(1), m=3)
    torch_cell = torch.nn.LSTMCell(3, 2).double()
    with torch.no_grad():
        torch_cell.weight_ih.copy_(torch.tensor(params["Wx1"]))
        torch_cell.weight_hh.copy_(torch.tensor(params["Wh1"]))
        torch_cell.bias_ih.copy_(torch.tensor(params["B1"][:, 0]) / 2)
        torch_cell.bias_hh.copy_(torch.tensor(params["B1"][:, 0]) / 2)
    x = torch.tensor(X.T)
    h, c = torch_cell(x[:, :3], (x[:, 3:5], x[:, 5:]))
    got = d.compile("numpy").module.forward(params, X)["A1"]
    np.testing.assert_allclose(got.T, torch.cat([h, c], dim=1).detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("spec,cost", SPECS, ids=[s for s, _ in SPECS])
def test_cells_agree_with_pytorch_float64_on_every_backend(spec, cost, backend):
    if backend != "numpy":
        pytest.importorskip(backend, reason=f"{backend} is not installed (.ci/run installs it)")
    d = derive(spec, cost)
    params, X, Y = random_problem(d.network, np.random.default_rng(len(spec)), m=5)
    want_cost, want = _torch_reference(d.network, params, X, Y)
    got_cost, got = d.compile(backend)(params, X, Y)
    assert_agrees(got_cost, got, want_cost, want)


def test_the_step_backward_is_proven_by_sympy_and_a_wrong_one_is_not(monkeypatch):
    assert cell.step_holds()
    right = cell.backward_forms

    def without_dnext_c(x, h, c, Wx, Wh, B, dh, dc_next):
        return right(x, h, c, Wx, Wh, B, dh, dc_next * 0)

    monkeypatch.setattr(cell, "backward_forms", without_dnext_c)
    assert not cell.step_holds.__wrapped__(1, 1, 1)


def test_derive_shows_the_step_backward_with_its_proof(run_cli):
    code, out, err = run_cli("derive", "7-lstmcell2-4:identity")
    assert code == 0, err
    assert "dC_dc1 = dc' + dh' ⊙ o ⊙ (1 − tanh²(c1))" in out and "dC_dX = [Wx1ᵀ·dC_dZ1; Wh1ᵀ·dC_dZ1; dC_dc1 ⊙ f]" in out
    assert "proven by SymPy: its derivative of Σ G ⊙ [h'; c']" in out
    code, out, err = run_cli("derive", "7-lstmcell2-4:identity", "--format", "latex")
    assert code == 0 and r"\begin" in out, err


@pytest.mark.parametrize("spec,message", [
    ("8-embed5d4-lstmcell2-5:softmax", "one LSTM step takes a column of features [x; h; c]"),
    ("4-lstmcell2-1:identity", "its input [x; h; c] needs more than 2·2 = 4 features"),
    ("7-lstmcell2:relu-1:identity", "expected lstmcell{HIDDEN}, e.g. lstmcell4"),
    ("7-lstmcell0-1:identity", "LSTMCell hidden must be a whole number from 1")])
def test_bad_cell_specs_are_one_line(run_cli, spec, message):
    code, _, err = run_cli("derive", spec)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_the_per_sample_path_refuses_a_cell_in_one_line(run_cli, tmp_path):
    data = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    rows = ["a,b,c,d,e,f,g,y"] + [",".join(f"{v:.3f}" for v in rng.normal(size=7)) + f",{k % 2}" for k in range(20)]
    data.write_text("\n".join(rows) + "\n")
    code, _, err = run_cli("train", str(data), "--net", "7-lstmcell2-1:logistic", "--backend", "numba",
                           "--batch-size", "4", "--epochs", "1", "--out", str(tmp_path / "m.json"))
    assert code == 2 and "has an LSTM cell: it trains mini-batches on the numpy" in err, err
    code, out, err = run_cli("train", str(data), "--net", "7-lstmcell2-1:logistic", "--batch-size", "4",
                             "--epochs", "3", "--out", str(tmp_path / "m.json"))
    assert code == 0 and (tmp_path / "m.json").exists(), err


def test_a_cell_network_trains_in_python():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 7))
    y = (X[:, 0] + X[:, 5] > 0).astype(int)
    model = train("7-lstmcell3-2:softmax", X, y, epochs=30, batch_size=16, seed=0, progress=False)
    assert model.history["train"][-1] < model.history["train"][0]


@needs_cc
def test_the_c_export_of_a_cell_passes_its_harness(tmp_path):
    paths = export(parse_spec(SPECS[0][0], SPECS[0][1]), "c", tmp_path, "net")
    run = compile_and_run(tmp_path, [p for p in paths if p.suffix == ".c"])
    assert run.returncode == 0 and run.stdout.startswith("OK: 0 mismatches"), run.stdout
