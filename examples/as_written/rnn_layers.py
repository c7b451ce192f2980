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
