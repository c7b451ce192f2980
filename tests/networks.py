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
]


def ids(corpus=CORPUS):
    return [f"{spec}/{cost}" for spec, cost in corpus]


def draw(network, rng: np.random.Generator, m: int = 3):
    """Random parameters N(0, 1), inputs X (n_inputs, m) and targets Y (n_outputs, m) that fit the cost."""
    from symbackprop.check import random_problem

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
        spec = "-".join([str(widths[0])] + [f"{w}:{a}" for w, a in zip(widths[1:], acts)])
        out.append((spec, cost))
    return out
