"""A course's rnn_layers.py, as students write it: the word embedding's forward and backward passes."""

import numpy as np


def word_embedding_forward(x, W):
    """x: (N, T) integer ids; W: (V, D). Returns out (N, T, D) and the cache."""
    out = W[x]
    cache = (x, W)
    return out, cache


def word_embedding_backward(dout, cache):
    """dW (V, D): each token's rows of dout added into its row (np.add.at adds repeated tokens too)."""
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)
    return dW


def word_embedding_backward_buffered(dout, cache):
    """The classic mistake: fancy-index += counts a repeated token once."""
    x, W = cache
    dW = np.zeros_like(W)
    dW[x] += dout
    return dW


def word_embedding_backward_transposed(dout, cache):
    """Another: the gradient built as (D, V)."""
    x, W = cache
    dW = np.zeros((W.shape[1], W.shape[0]))
    for n in range(x.shape[0]):
        for t in range(x.shape[1]):
            dW[:, x[n, t]] += dout[n, t]
    return dW


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,): next_h = tanh(x Wx + prev_h Wh + b)."""
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    """dx, dprev_h, dWx, dWh, db: through tanh (1 - next_h²), then the affine map's rules."""
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_step_backward_at_the_input(dnext_h, cache):
    """A classic mistake: tanh's derivative taken at the pre-activation's value, 1 - a² with a = x Wx + ..."""
    x, prev_h, Wx, Wh, next_h = cache
    a = x @ Wx + prev_h @ Wh
    da = dnext_h * (1 - a ** 2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    """x (N, T, D), h0 (N, H): h (N, T, H), one step after another."""
    N, T, _ = x.shape
    h, prev, caches = np.zeros((N, T, h0.shape[1])), h0, []
    for t in range(T):
        prev, cache = rnn_step_forward(x[:, t], prev, Wx, Wh, b)
        h[:, t], caches = prev, caches + [cache]
    return h, caches


def rnn_backward(dh, cache):
    """Backpropagation through time: each step's upstream is dh[:, t] plus what the step after it sent back."""
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx, dWx, dWh, db = np.zeros((N, T, D)), np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    dprev = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev, dwx, dwh, dbt = rnn_step_backward(dh[:, t] + dprev, cache[t])
        dWx, dWh, db = dWx + dwx, dWh + dwh, db + dbt
    return dx, dprev, dWx, dWh, db


def rnn_backward_without_time(dh, cache):
    """A classic mistake: each step backpropagated on its own (dprev_h dropped), T copies and no recurrence."""
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx, dWx, dWh, db = np.zeros((N, T, D)), np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    dprev = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dprev, dwx, dwh, dbt = rnn_step_backward(dh[:, t], cache[t])
        dWx, dWh, db = dWx + dwx, dWh + dwh, db + dbt
    return dx, dprev, dWx, dWh, db


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_forward(x, h0, Wx, Wh, b):
    """Wx (D, 4H), Wh (H, 4H), b (4H,), the gates in the course's order i, f, o, g; c0 = 0."""
    N, T, _ = x.shape
    H = h0.shape[1]
    h, prev_h, prev_c, caches = np.zeros((N, T, H)), h0, np.zeros_like(h0), []
    for t in range(T):
        a = x[:, t] @ Wx + prev_h @ Wh + b
        i, f, o, g = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
        c = f * prev_c + i * g
        caches.append((x[:, t], prev_h, prev_c, i, f, o, g, c, Wx, Wh))
        prev_h, prev_c = o * np.tanh(c), c
        h[:, t] = prev_h
    return h, caches


def lstm_backward(dh, cache):
    """dx, dh0, dWx, dWh, db: two recurrences backwards, for h and for c."""
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx, dWx, dWh, db = np.zeros((N, T, D)), np.zeros((D, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)
    dprev_h, dprev_c = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        x, prev_h, prev_c, i, f, o, g, c, Wx, Wh = cache[t]
        dnext_h = dh[:, t] + dprev_h
        tc = np.tanh(c)
        dc = dnext_h * o * (1 - tc ** 2) + dprev_c
        da = np.hstack([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dnext_h * tc * o * (1 - o),
                        dc * i * (1 - g ** 2)])
        dx[:, t], dprev_h, dprev_c = da @ Wx.T, da @ Wh.T, dc * f
        dWx, dWh, db = dWx + x.T @ da, dWh + prev_h.T @ da, db + da.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db


def temporal_affine_forward(x, w, b):
    """x (N, T, D), w (D, M), b (M,): out (N, T, M), the same affine map at every position."""
    return x @ w + b, (x, w)


def temporal_affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, np.einsum("ntd,ntm->dm", x, dout), dout.sum(axis=(0, 1))


def temporal_softmax_loss(x, y, mask):
    """x (N, T, V) scores, y (N, T) ids, mask (N, T): the cross-entropy summed over the kept positions, over N."""
    N, T, V = x.shape
    flat, ids, keep = x.reshape(N * T, V), y.reshape(N * T), mask.reshape(N * T)
    p = np.exp(flat - flat.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.sum(keep * np.log(p[np.arange(N * T), ids])) / N
    dx = p.copy()
    dx[np.arange(N * T), ids] -= 1
    return loss, (dx * keep[:, None] / N).reshape(N, T, V)


def temporal_softmax_loss_unmasked_gradient(x, y, mask):
    """A classic mistake: the loss masked, its gradient not (padding positions still pull on the scores)."""
    N, T, V = x.shape
    loss, _ = temporal_softmax_loss(x, y, mask)
    flat, ids = x.reshape(N * T, V), y.reshape(N * T)
    p = np.exp(flat - flat.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(N * T), ids] -= 1
    return loss, (p / N).reshape(N, T, V)


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One LSTM step: x (N, D), prev_h and prev_c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,), gates i, f, o, g."""
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, i, f, o, g, next_c, Wx, Wh)


def lstm_step_backward(dnext_h, dnext_c, cache):
    """dx, dprev_h, dprev_c, dWx, dWh, db of one step."""
    x, prev_h, prev_c, i, f, o, g, next_c, Wx, Wh = cache
    tc = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tc ** 2)
    da = np.hstack([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dnext_h * tc * o * (1 - o),
                    dc * i * (1 - g ** 2)])
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_step_backward_without_dnext_c(dnext_h, dnext_c, cache):
    """The classic slip: the cell's gradient from next_h alone, dnext_c left out."""
    return lstm_step_backward(dnext_h, np.zeros_like(dnext_c), cache)
