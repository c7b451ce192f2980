"""A two-layer net written the way most courses write it: rows are samples, W1 is (D, H), 1-D biases b1 and b2,
integer class labels y, `loss, grads = f(params, X, y)`.  `symbackprop check 4-10:relu-3:softmax
examples/course_two_layer.py:loss` checks it as written."""

import numpy as np


def loss(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]
    hidden = np.maximum(0, X @ W1 + b1)
    scores = hidden @ W2 + b2
    scores = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    data_loss = -np.log(probs[np.arange(N), y]).mean()

    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {"W2": hidden.T @ dscores, "b2": dscores.sum(axis=0)}
    dhidden = dscores @ W2.T
    dhidden[hidden <= 0] = 0
    grads["W1"] = X.T @ dhidden
    grads["b1"] = dhidden.sum(axis=0)
    return data_loss, grads


def summed_loss(params, X, y):
    """The same net with the loss summed over the samples, not averaged (also a convention courses use)."""
    value, grads = loss(params, X, y)
    return value * X.shape[0], {k: v * X.shape[0] for k, v in grads.items()}
