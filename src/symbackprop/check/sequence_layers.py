"""The recurrent and temporal layers of a course's ``rnn_layers.py`` as ``check --layer`` draws and derives them.

A course's conventions: rows are samples, x (N, T, D), weights (D, H) applied as ``x @ Wx`` (ours are (H, D),
``Wx·x``), an LSTM's gates in the order i, f, o, g (PyTorch's and ours: i, f, g, o).  A course's sequence x is
real-valued where a symbackprop sequence network reads token ids, so x becomes an embedding table with one column
per (sample, position), read at ids n·T + t: the embedding's output is x and its gradient dx, column by column.
``rnn_step`` is one position, ``tanh(x @ Wx + prev_h @ Wh + b)``: a dense tanh layer over [x, prev_h].
``lstm_step`` is one LSTM step, ``lstmcell{M}`` over [x; prev_h; prev_c] giving [next_h; next_c]: its backward takes
two upstream gradients, dnext_h and dnext_c, and returns dprev_c too.  ``attention`` is causal scaled dot-product
attention of one head, q, k, v (N, T, D) as llm.c's ``attention_forward`` takes them (rows layout): the table's
columns are [q; k; v] (3D features), an attention layer of 3 heads whose projections pick q, k and v into the first
head (the others read zeros and give zeros), and its output projection that head's rows.
``rnn`` and ``lstm`` start from h0 = 0 (symbackprop's recurrent layers do); dh0 is ``Whᵀ·δ_0``, with δ_0 the
derived backpropagation through time at the first position.  ``temporal_softmax_loss`` is a softmax with the
cross-entropy at every position, a masked position's target all 0 (padding: no cost), summed and divided by N.
"""

from __future__ import annotations

import numpy as np

SEQUENCE_KINDS = ("rnn_step", "lstm_step", "attention", "rnn", "lstm", "temporal_affine", "temporal_softmax_loss")


def _gates(H: int) -> np.ndarray:
    """Column order taking a course's gates (i, f, o, g) to PyTorch's (i, f, g, o), and back (a swap)."""
    return np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]


def _as_table(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the table (D, N·T) whose column n·T + t is x[n, t], the ids (T, N) that read it back)."""
    N, T, D = x.shape
    return x.reshape(N * T, D).T.copy(), np.arange(N * T).reshape(N, T).T.astype(float)


def draw(name: str, rng, sizes: dict) -> tuple[tuple, dict]:
    """(the course's forward arguments, our parameters in columns)."""
    N, T, D, M = sizes["N"], sizes["T"], sizes["D"], sizes["M"]
    if name == "rnn_step":
        x, h, Wx, Wh, b = (rng.normal(size=s) for s in ((N, D), (N, M), (D, M), (M, M), (M,)))
        return (x, h, Wx, Wh, b), {"W1": np.vstack([Wx, Wh]).T.copy(), "B1": b[:, None].copy()}
    if name == "lstm_step":
        x, h, c = (rng.normal(size=s) for s in ((N, D), (N, M), (N, M)))
        Wx, Wh, b = rng.normal(size=(D, 4 * M)) * 0.5, rng.normal(size=(M, 4 * M)) * 0.5, rng.normal(size=4 * M) * 0.5
        order = _gates(M)
        return (x, h, c, Wx, Wh, b), {"Wx1": Wx[:, order].T.copy(), "Wh1": Wh[:, order].T.copy(),
                                      "B1": b[order][:, None].copy(), "W2": np.eye(2 * M), "B2": np.zeros((2 * M, 1))}
    if name == "temporal_softmax_loss":  # scores x (N, T, V) over V = M classes, ids y (N, T), a mask (N, T)
        x = rng.normal(size=(N, T, M))
        y, mask = rng.integers(0, M, size=(N, T)), rng.random((N, T)) < 0.7
        table, _ = _as_table(x)
        return (x, y, mask), {"E1": table, "W2": np.eye(M), "B2": np.zeros((M, 1))}
    if name == "attention":
        q, k, v = (rng.normal(size=(N, T, D)) for _ in range(3))
        table, _ = _as_table(np.concatenate([q, k, v], axis=2))
        F = 3 * D
        pick = {tag: np.zeros((F, F)) for tag in "qkvo"}
        for n, tag in enumerate("qkv"):
            pick[tag][:D, n * D:(n + 1) * D] = np.eye(D)
        pick["o"][:D, :D] = np.eye(D)
        ours = {"E1": table, "W3": np.eye(F), "B3": np.zeros((F, 1))}
        for tag in "qkvo":
            ours.update({f"W{tag}2": pick[tag], f"B{tag}2": np.zeros((F, 1))})
        return (q, k, v), ours
    x = rng.normal(size=(N, T, D))
    table, _ = _as_table(x)
    if name == "temporal_affine":
        w, b = rng.normal(size=(D, M)), rng.normal(size=M)
        return (x, w, b), {"E1": table, "W2": w.T.copy(), "B2": b[:, None].copy()}
    rows = 4 * M if name == "lstm" else M
    Wx, Wh, b = rng.normal(size=(D, rows)) * 0.5, rng.normal(size=(M, rows)) * 0.5, rng.normal(size=rows) * 0.5
    order = _gates(M) if name == "lstm" else np.arange(rows)
    ours = {"E1": table, "Wx2": Wx[:, order].T.copy(), "Wh2": Wh[:, order].T.copy(), "B2": b[order][:, None].copy(),
            "W3": np.eye(M), "B3": np.zeros((M, 1))}
    return (x, np.zeros((N, M)), Wx, Wh, b), ours


def keep(name: str) -> tuple[str, ...]:
    """What the pullback must also return: an RNN's or LSTM's δ, for dh0."""
    return ("dC_dZ2",) if name in ("rnn", "lstm") else ()


def reference(name: str, module, args, params, dout) -> dict:
    """The derived values in the course's shapes, by name."""
    if name == "rnn_step":
        x, h = args[0], args[1]
        D = x.shape[1]
        _, g = module.pullback(params, np.hstack([x, h]).T, dout.T)
        return {"dx": g["X"][:D].T, "dprev_h": g["X"][D:].T, "dWx": g["W1"][:, :D].T, "dWh": g["W1"][:, D:].T,
                "db": g["B1"][:, 0]}
    if name == "lstm_step":  # dout: (dnext_h, dnext_c)
        x, h, c = args[:3]
        D, M = x.shape[1], h.shape[1]
        order = _gates(M)
        _, g = module.pullback(params, np.hstack([x, h, c]).T, np.hstack(dout).T)
        return {"dx": g["X"][:D].T, "dprev_h": g["X"][D:D + M].T, "dprev_c": g["X"][D + M:].T,
                "dWx": g["Wx1"].T[:, order], "dWh": g["Wh1"].T[:, order], "db": g["B1"][order, 0]}
    x = args[0]
    N, T, D = x.shape
    _, ids = _as_table(x)
    if name == "attention":  # dout (N, T, D) as the first D of the 3D features' upstream
        up = np.concatenate([dout, np.zeros((N, T, 2 * D))], axis=2)
        _, g = module.pullback(params, ids, up.transpose(2, 1, 0))
        dx = g["E1"].T.reshape(N, T, 3 * D)
        return {"dq": dx[..., :D], "dk": dx[..., D:2 * D], "dv": dx[..., 2 * D:]}
    if name == "temporal_softmax_loss":  # the cross-entropy summed over the positions with a target, over N
        y, mask = args[1], args[2]
        Y = (np.eye(D)[y] * mask[..., None]).transpose(2, 1, 0)  # (V, T, N) one-hot, a position's 0 where masked
        C, g = module.pullback(params, ids, Y)
        return {"loss": np.array([[C / N]]), "dx": g["E1"].T.reshape(N, T, D) / N}
    _, g = module.pullback(params, ids, dout.transpose(2, 1, 0))
    dx = g["E1"].T.reshape(N, T, D)
    if name == "temporal_affine":
        return {"dx": dx, "dw": g["W2"].T, "db": g["B2"][:, 0]}
    M = args[1].shape[1]
    order = _gates(M) if name == "lstm" else np.arange(g["Wx2"].shape[0])  # its own inverse
    delta0 = g["dC_dZ2"][:, ::T]  # δ at each sample's first position
    return {"dx": dx, "dh0": (params["Wh2"].T @ delta0).T, "dWx": g["Wx2"].T[:, order],
            "dWh": g["Wh2"].T[:, order], "db": g["B2"][order, 0]}


def without_time(step_module, args, dout, h) -> dict:
    """The classic mistake's values: each position backpropagated through its own step alone, from dh[:, t] only
    (the derived ``rnn_step`` at each position, prev_h the forward's h[:, t − 1]), the weights' gradients summed."""
    x, h0, Wx, Wh, b = args
    N, T, D = x.shape
    params = {"W1": np.vstack([Wx, Wh]).T.copy(), "B1": b[:, None].copy()}
    out = {"dx": np.zeros_like(x), "dWx": np.zeros_like(Wx), "dWh": np.zeros_like(Wh), "db": np.zeros_like(b)}
    for t in range(T):
        prev = h0 if t == 0 else h[:, t - 1]
        g = reference("rnn_step", step_module, (x[:, t], prev), params, dout[:, t])
        out["dx"][:, t] = g["dx"]
        for k in ("dWx", "dWh", "db"):
            out[k] += g[k]
        if t == 0:
            out["dh0"] = g["dprev_h"]
    return out


def mistakes(name: str, module, step_module, args, params, dout, h) -> dict:
    """``{what: {returned name: its value}}`` for this draw, of each classic mistake of the kind ``name``: an RNN
    backward without the recurrence; a masked loss whose gradient is not masked."""
    if name == "rnn":
        return {"has no backpropagation through time: each step took only dh[:, t], not dh[:, t] plus the dprev_h "
                "the step after it sent back (T separate steps, no recurrence)":
                without_time(step_module, args, dout, h)}
    if name == "lstm_step":
        dnext_h, dnext_c = dout
        return {"leaves out dnext_c: the cell's gradient is dnext_c + dnext_h ⊙ o ⊙ (1 − tanh²(next_c)), the cell's "
                "own upstream gradient plus what comes through next_h":
                reference(name, module, args, params, (dnext_h, np.zeros_like(dnext_c)))}
    if name == "attention":
        return {what: dict(zip(("dq", "dk", "dv"), values)) for what, values in _attention_slips(*args, dout).items()}
    if name == "temporal_softmax_loss":
        x, y, mask = args
        unmasked = reference(name, module, (x, y, np.ones_like(mask)), params, None)["dx"]
        return {"is not masked: the loss leaves the masked positions out, but their gradient (softmax − one-hot) "
                "is still there; multiply it by the mask": {"dx": unmasked}}
    return {}


def _attention_slips(q, k, v, dout) -> dict:
    """The values of an attention backward with a classic slip, written out in NumPy (a slip's, not the reference):
    the softmax's backward without its Σ term; dq and dk without the scale 1/√D."""
    D, T = q.shape[2], q.shape[1]
    scale = 1 / np.sqrt(D)
    S = np.where(np.tril(np.ones((T, T), bool)), q @ k.transpose(0, 2, 1) * scale, -np.inf)  # (N, query, key)
    P = np.exp(S - S.max(axis=2, keepdims=True))
    P /= P.sum(axis=2, keepdims=True)
    dP = dout @ v.transpose(0, 2, 1)
    dv = P.transpose(0, 2, 1) @ dout
    out = {}
    for what, dS, s in (("leaves out the softmax's Σ term: dS = P ⊙ (dP − Σ_keys(P ⊙ dP)), not P ⊙ dP", P * dP, scale),
                        ("misses the scale 1/√D: dq = dS·k/√D and dk = dSᵀ·q/√D",
                         P * (dP - (P * dP).sum(axis=2, keepdims=True)), 1.0)):
        out[what] = (dS @ k * s, dS.transpose(0, 2, 1) @ q * s, dv)
    return out
