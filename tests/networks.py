"""The shared corpus of networks every path is tested on, and random draws for them."""

from __future__ import annotations

import numpy as np

# (spec, cost): every activation and every cost, depth 1-3; the reference first, then the textbook.
CORPUS = [
    ("1-1:relu-1:logistic", "squared_error"),
    ("3-3:relu-1:logistic", "squared_error"),
    ("2-1:identity", "squared_error"),
    ("2-2:tanh", "squared_error"),
    ("3-2:logistic", "binary_cross_entropy"),
    ("2-3:softmax", "cross_entropy"),
    ("2-3:softmax", "squared_error"),
    ("2-2:softplus-1:identity", "squared_error"),
    ("2-3:leaky_relu-2:logistic", "binary_cross_entropy"),
    ("3-2:tanh-3:softmax", "cross_entropy"),
    ("2-2:relu-2:softmax", "squared_error"),
    ("1-2:logistic-1:tanh", "squared_error"),
    ("2-3:sigmoid-2:relu-1:identity", "squared_error"),
    ("3-2:softplus-2:tanh-2:logistic", "binary_cross_entropy"),
    ("2-2:leaky_relu-2:leaky_relu-3:softmax", "cross_entropy"),
    ("1-1:tanh-1:tanh-1:tanh", "squared_error"),
    ("2-1:relu-1:relu-1:logistic", "squared_error"),
    ("4-3:identity-2:softmax", "cross_entropy"),
    ("2-2:softplus-2:softplus-1:softplus", "squared_error"),
    ("3-1:leaky_relu-2:identity", "squared_error"),
    ("2-2:tanh-2:logistic", "squared_error"),
    ("1-3:relu-3:relu-1:logistic", "binary_cross_entropy"),
    ("3-2:logistic-2:tanh-2:softmax", "cross_entropy"),
    ("3-3:relu:nobias-1:logistic:nobias", "squared_error"),  # bias-free layers (nn.Linear(bias=False))
    ("2-3:tanh:nobias-2:softmax", "cross_entropy"),
    ("3-3:relu-3:identity", "multiclass_hinge"),  # the multiclass SVM on scores
    ("2-3:tanh-4:identity", "multiclass_hinge"),
    ("2-3:gelu-2:gelu_tanh-1:identity", "squared_error"),  # GELU exact (erf) and GPT-2's tanh form
]


def ids(corpus=CORPUS):
    return [f"{spec}/{cost}" for spec, cost in corpus]


def draw(network, rng: np.random.Generator, m: int = 3):
    """Random parameters N(0, 1), inputs X (n_inputs, m) and targets Y (n_outputs, m) that fit the cost."""
    from symbackprop.draws import random_problem

    return random_problem(network, rng, m)


def random_corpus(count: int, seed: int = 2024):
    """``count`` seeded random (spec, cost): depth 1-4, widths 1-6, every activation and cost."""
    rng = np.random.default_rng(seed)
    hidden = ["identity", "relu", "leaky_relu", "logistic", "tanh", "softplus"]
    out = []
    for k in range(count):
        depth = 1 + k % 4
        widths = [int(w) for w in rng.integers(1, 7, size=depth + 1)]
        acts = [hidden[(k + i) % len(hidden)] for i in range(depth)]
        cost = ["squared_error", "binary_cross_entropy", "cross_entropy"][k % 3]
        if cost == "binary_cross_entropy":
            acts[-1] = "logistic"
        elif cost == "cross_entropy":
            acts[-1] = "softmax"
            widths[-1] = max(widths[-1], 2)
        elif k % 5 == 0:
            acts[-1] = "softmax"
            widths[-1] = max(widths[-1], 2)  # a softmax over one unit is refused
        spec = "-".join([str(widths[0])] + [f"{w}:{a}" for w, a in zip(widths[1:], acts)])
        out.append((spec, cost))
    return out


def derived_gradients(derivation, params, X, Y):
    """``(cost, grads)`` from the Program lowered entry by entry (SymPy), evaluated numerically and
    averaged over the samples: the derivation itself, not generated code."""
    import sympy as sp

    from symbackprop.activations import logistic, softplus

    ef = derivation.entries
    subs = ef.substitution()
    names = list(ef.gradients)
    exprs = [ef.gradients[n].xreplace(subs) for n in names] + [ef.cost.xreplace(subs)]
    modules = [{"Heaviside": lambda x, h0=0.0: np.heaviside(x, h0), "logistic": lambda x: 1 / (1 + np.exp(-x)),
                "softplus": lambda x: np.logaddexp(0, x)}, "numpy"]
    assert logistic.__name__ == "logistic" and softplus.__name__ == "softplus"
    where = {}  # symbol -> (array name, row, column)
    for name, mat in [("X", ef.X), ("Y", ef.Y), *ef.params.items()]:
        for i in range(mat.rows):
            for j in range(mat.cols):
                where[mat[i, j]] = (name, i, j)
    syms = sorted(where, key=lambda s: s.name)
    fn = sp.lambdify(syms, exprs, modules=modules)
    arrays = {"X": X, "Y": Y, **params}
    rows = []
    for k in range(X.shape[1]):
        args = [arrays[n][i, k] if n in ("X", "Y") else arrays[n][i, j] for n, i, j in (where[s] for s in syms)]
        rows.append(np.asarray(fn(*args), dtype=float))
    mean = np.mean(rows, axis=0)
    entry = {mat[i, j].name: (name, i, j) for name, mat in ef.params.items()
             for i in range(mat.rows) for j in range(mat.cols)}
    grads = {p: np.zeros(np.shape(v)) for p, v in params.items()}
    for value, name in zip(mean, names):
        p, i, j = entry[name]
        grads[p][i, j] = value
    return float(mean[-1]), grads


def torch_reference(net, params, X, Y):
    """Cost and gradients by PyTorch float64 autograd: F.layer_norm in training mode and residual adds."""
    import pytest

    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    F = torch.nn.functional
    from symbackprop import AvgPool2d, Conv2d, Dense, Embedding, Flatten, GlobalAvgPool2d, MaxPool2d

    p = {k: torch.tensor(params[k], dtype=torch.float64, requires_grad=True) for k in net.shapes()}
    A, Yt = torch.tensor(X, dtype=torch.float64), torch.tensor(Y, dtype=torch.float64)
    m = X.shape[1]
    if net.image:  # PyTorch's layout: rows are samples, (m, C, H, W)
        A = A.T.reshape(m, *net.image)
    acts = {"identity": lambda z: z, "relu": F.relu, "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
            "gelu": F.gelu, "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
            "logistic": torch.sigmoid, "tanh": torch.tanh, "softplus": F.softplus,
            "softmax": lambda z: torch.softmax(z, dim=0)}
    for layer, dense in zip(net.numbers, net.layers):
        if isinstance(dense, Embedding):  # ids (T, m) as PyTorch's (m, T), then (m, T, dim); E{l} is weight.T
            A = F.embedding(torch.tensor(X.T, dtype=torch.long), p[f"E{layer}"].T)
            continue
        if isinstance(dense, Conv2d):
            Z = F.conv2d(A, p[f"W{layer}"], p[f"B{layer}"] if dense.bias else None, stride=dense.stride,
                         padding=dense.padding)
            A = acts[dense.activation.name](Z)
            continue
        if isinstance(dense, (MaxPool2d, AvgPool2d)):
            pool = F.max_pool2d if isinstance(dense, MaxPool2d) else F.avg_pool2d
            A = pool(A, dense.kernel_size, dense.stride)
            continue
        if isinstance(dense, (GlobalAvgPool2d, Flatten)):  # back to columns: (features, m)
            A = (A.mean(dim=(2, 3)) if isinstance(dense, GlobalAvgPool2d) else torch.flatten(A, 1)).T
            continue
        assert isinstance(dense, Dense)
        Z = p[f"W{layer}"] @ A + p[f"B{layer}"]
        if dense.norm == "layernorm":
            Z = F.layer_norm(Z.T, (Z.shape[0],), p[f"gamma{layer}"][:, 0], p[f"beta{layer}"][:, 0], eps=1e-5).T
        elif dense.norm == "batchnorm":  # training mode: the batch's statistics
            Z = F.batch_norm(Z.T, None, None, p[f"gamma{layer}"][:, 0], p[f"beta{layer}"][:, 0], training=True,
                             eps=1e-5).T
        out = acts[dense.activation.name](Z)
        if dense.dropout:  # inverted dropout with the given mask
            out = out * torch.tensor(params[f"M{layer}"], dtype=torch.float64) / (1 - dense.dropout)
        A = A + out if dense.residual else out
    if net.cost.name == "squared_error":
        cost = ((A - Yt) ** 2).sum() / m
    elif net.cost.name == "binary_cross_entropy":
        cost = F.binary_cross_entropy_with_logits(Z, Yt, reduction="sum") / m
    else:
        cost = -(Yt * torch.log_softmax(Z, dim=0)).sum() / m
    cost.backward()
    return cost.item(), {k: v.grad.numpy() for k, v in p.items()}


def random_image_corpus(count: int, seed: int = 18):
    """``count`` seeded random image networks: 1-3 channels, odd and even sizes, convolutions with strides 1-2 and
    padding 0-2 (with and without bias), max and average pools, flatten or a global average, then dense layers with
    their norms and residual connections, under every cost."""
    rng = np.random.default_rng(seed)
    acts = ["relu", "tanh", "identity", "leaky_relu", "softplus", "logistic"]
    out = []
    for k in range(count):
        c, h, w = int(rng.integers(1, 4)), int(rng.integers(5, 10)), int(rng.integers(5, 10))
        tokens, size = [f"{c}x{h}x{w}"], min(h, w)
        for _ in range(int(rng.integers(1, 3))):
            kk, s, p = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 3))
            kk = min(kk, size + 2 * p)
            tokens.append(f"conv{int(rng.integers(1, 4))}k{kk}" + (f"s{s}" if s > 1 else "") + (f"p{p}" if p else "")
                          + f":{acts[(k + len(tokens)) % len(acts)]}" + (":nobias" if k % 7 == 3 else ""))
            size = (size + 2 * p - kk) // s + 1
            if size >= 2 and rng.random() < 0.6:
                pk = int(rng.integers(2, min(size, 3) + 1))
                tokens.append(f"{'max' if k % 2 else 'avg'}pool{pk}" + ("s1" if k % 3 == 0 else ""))
                size = (size - pk) // (1 if k % 3 == 0 else pk) + 1
        tokens.append("gap" if k % 4 == 1 else "flatten")
        hidden = int(rng.integers(2, 5))
        tokens.append(f"{hidden}:" + ["layernorm:relu", "tanh", "batchnorm:relu", "relu"][k % 4])
        if k % 3 == 2:
            tokens.append(f"{hidden}:tanh:residual")
        cost = ["cross_entropy", "squared_error", "binary_cross_entropy"][k % 3]
        tokens.append({"cross_entropy": "3:softmax", "squared_error": "2:identity",
                       "binary_cross_entropy": "1:logistic"}[cost])
        out.append(("-".join(tokens), cost))
    return out


def torch_sequence_reference(net, params, X, Y, ignore=None, dtype="float64", outputs=None):
    """Cost and gradients by PyTorch autograd (float64, or ``dtype``) for a sequence network: ids X (T, m), targets
    Y (V, T, m); every layer at each position of (m, T, features), the cost the mean over the m·T positions (over
    those with a target where ``ignore`` gives them, (m, T) with -100 elsewhere).  ``outputs``, a list, gets the
    output layer's values (m, T, V)."""
    import pytest

    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch==2.13.0)")
    F = torch.nn.functional
    from symbackprop import Dense, Embedding
    from symbackprop.blocks import LayerNorm, Residual, span
    from symbackprop.sequences import LSTM, RNN, PositionalEmbedding, SelfAttention

    def attention(A, layer, heads, causal):
        m, T, d = A.shape
        q, k, v = (A @ p[f"W{t}{layer}"].T + p[f"B{t}{layer}"][:, 0] for t in "qkv")
        q, k, v = (x.reshape(m, T, heads, d // heads).transpose(1, 2) for x in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2).reshape(m, T, d)
        return out @ p[f"Wo{layer}"].T + p[f"Bo{layer}"][:, 0]

    def recurrent(A, layer, spec_layer):
        """PyTorch's own nn.RNN / nn.LSTM (its kernels), called with our weights: the bias all in bias_ih."""
        hidden = spec_layer.hidden
        if isinstance(spec_layer, RNN):
            module = torch.nn.RNN(A.shape[-1], hidden, nonlinearity=spec_layer.activation, batch_first=True)
        else:
            module = torch.nn.LSTM(A.shape[-1], hidden, batch_first=True)
        b = p[f"B{layer}"][:, 0]
        weights = {"weight_ih_l0": p[f"Wx{layer}"], "weight_hh_l0": p[f"Wh{layer}"], "bias_ih_l0": b,
                   "bias_hh_l0": torch.zeros_like(b)}
        return torch.func.functional_call(module.to(real), weights, (A,))[0]

    real = getattr(torch, dtype)
    p = {k: torch.tensor(params[k], dtype=real, requires_grad=True) for k in net.shapes()}
    acts = {"identity": lambda z: z, "relu": F.relu, "gelu": F.gelu,
            "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"), "logistic": torch.sigmoid, "tanh": torch.tanh,
            "softmax": lambda z: torch.softmax(z, dim=-1)}
    Yt = torch.tensor(Y, dtype=real).permute(2, 1, 0)  # (m, T, V)
    A = Z = None
    def layer_norm(A, layer):
        return F.layer_norm(A, (A.shape[-1],), p[f"gamma{layer}"][:, 0], p[f"beta{layer}"][:, 0], eps=1e-5)

    def apply(A, layer, spec_layer):
        """(output, logits) of one layer at number ``layer``; a residual block's layers take the next numbers."""
        if isinstance(spec_layer, Embedding):
            return F.embedding(torch.tensor(X.T, dtype=torch.long), p[f"E{layer}"].T), None
        if isinstance(spec_layer, PositionalEmbedding):
            return A + p[f"P{layer}"].T, None
        if isinstance(spec_layer, SelfAttention):
            return attention(A, layer, spec_layer.heads, spec_layer.causal), None
        if isinstance(spec_layer, LayerNorm):
            return layer_norm(A, layer), None
        if isinstance(spec_layer, (RNN, LSTM)):
            return recurrent(A, layer, spec_layer), None
        if isinstance(spec_layer, Residual):
            out, n = A, layer
            for inner in spec_layer.layers:
                out, _ = apply(out, n, inner)
                n += span(inner)
            return A + out, None
        assert isinstance(spec_layer, Dense)
        Z = A @ p[f"W{layer}"].T + (p[f"B{layer}"][:, 0] if spec_layer.bias else 0)
        if spec_layer.norm == "layernorm":
            Z = layer_norm(Z, layer)
        out = acts[spec_layer.activation.name](Z)
        return (A + out if spec_layer.residual else out), Z

    for layer, spec_layer in zip(net.numbers, net.layers):
        A, Z = apply(A, layer, spec_layer)
    count = Yt.shape[0] * Yt.shape[1]
    if net.cost.name == "squared_error":
        cost = ((A - Yt) ** 2).sum() / count
    elif net.cost.name == "binary_cross_entropy":
        cost = F.binary_cross_entropy_with_logits(Z, Yt, reduction="sum") / count
    elif ignore is not None:  # targets (m, T) with -100 where a position has none
        cost = F.cross_entropy(Z.reshape(count, -1), ignore.reshape(-1), ignore_index=-100)
    else:
        cost = F.cross_entropy(Z.reshape(count, -1), Yt.reshape(count, -1).argmax(dim=1))
    cost.backward()
    if outputs is not None:
        outputs.append(A.detach().numpy())
    return cost.item(), {k: v.grad.numpy() for k, v in p.items()}


def assert_agrees(got_cost, got, want_cost, want) -> None:
    """A backend's cost and gradients equal the reference's to 1e-9 (relative; 1e-11 absolute near 0)."""
    assert abs(float(got_cost) - want_cost) <= 1e-9 * max(1.0, abs(want_cost))
    for name, value in want.items():
        np.testing.assert_allclose(np.asarray(got[name]), value, rtol=1e-9, atol=1e-11, err_msg=name)
