"""Causal self-attention of one head as llm.c's attention_forward/attention_backward compute it, in NumPy and rows
layout (q, k, v: (N, T, D)), as people write it by hand."""

import numpy as np


def attention_forward(q, k, v):
    """out (N, T, D): each query's mix of the values at its position and before, and the cache."""
    T, D = q.shape[1], q.shape[2]
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(D)  # (N, query, key)
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
    att = np.exp(scores - scores.max(axis=2, keepdims=True))
    att /= att.sum(axis=2, keepdims=True)
    return att @ v, (q, k, v, att)


def attention_backward(dout, cache):
    """dq, dk, dv."""
    q, k, v, att = cache
    D = q.shape[2]
    dv = att.transpose(0, 2, 1) @ dout
    datt = dout @ v.transpose(0, 2, 1)
    dscores = att * (datt - (att * datt).sum(axis=2, keepdims=True))  # the softmax's backward, row by row
    dq = dscores @ k / np.sqrt(D)
    dk = dscores.transpose(0, 2, 1) @ q / np.sqrt(D)
    return dq, dk, dv


def attention_backward_softmax_as_elementwise(dout, cache):
    """The classic slip: the softmax's backward taken entry by entry (att ⊙ datt), its Σ term left out."""
    q, k, v, att = cache
    D = q.shape[2]
    dscores = att * (dout @ v.transpose(0, 2, 1))
    return dscores @ k / np.sqrt(D), dscores.transpose(0, 2, 1) @ q / np.sqrt(D), att.transpose(0, 2, 1) @ dout
