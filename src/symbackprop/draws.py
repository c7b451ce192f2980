"""Random draws that fit a network: parameters, inputs and targets of the kind its cost expects."""

from __future__ import annotations

import numpy as np

from .resources import require_parameters


def random_problem(network, rng: np.random.Generator, m: int = 3):
    """Random parameters N(0, 1), inputs X (n_inputs, m) and targets Y (n_outputs, m) that fit the cost."""
    require_parameters(network, 4, "drawing parameters for")
    params = {k: rng.normal(size=s) for k, s in network.shapes().items()}
    X = rng.normal(size=(network.inputs, m))
    n = network.outputs
    if network.cost.targets == "one-hot":
        Y = np.eye(n)[:, rng.integers(0, n, size=m)]
    elif network.cost.targets == "binary":
        Y = rng.integers(0, 2, size=(n, m)).astype(float)
    else:
        Y = rng.normal(size=(n, m))
    return params, X, Y
