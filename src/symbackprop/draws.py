"""Random draws that fit a network: parameters, inputs and targets of the kind its cost expects."""

from __future__ import annotations

import numpy as np

from .layers.batchnorm import running
from .resources import require_parameters


def random_problem(network, rng: np.random.Generator, m: int = 3):
    """Random parameters N(0, 1), inputs X (n_inputs, m) — token ids 0 .. vocab − 1 for a network that reads
    them — and targets Y (n_outputs, m) that fit the cost — (n_outputs, T, m) for a sequence of T positions; a
    network with dropout gets its masks in ``params`` too (``"M2"``, (n2, m) of 0 and 1)."""
    require_parameters(network, 4, "drawing parameters for")
    params = {k: rng.normal(size=s) for k, s in network.shapes().items()}
    for p in network.params:  # a running variance is positive (the same draws, folded): sqrt(var + eps) is real
        if p.key == running(p.key.layer)[1]:
            params[p.name] = np.abs(params[p.name]) + 0.5
    X = rng.normal(size=(network.inputs, m)) if network.vocab is None else \
        rng.integers(0, network.vocab, size=(network.inputs, m)).astype(float)
    n, T = network.outputs, network.positions
    cols = m * T if T else m  # a sequence's targets: one a position
    if network.cost.targets == "one-hot":
        Y = np.eye(n)[:, rng.integers(0, n, size=cols)]
    elif network.cost.targets == "binary":
        Y = rng.integers(0, 2, size=(n, cols)).astype(float)
    else:
        Y = rng.normal(size=(n, cols))
    if T:  # ids (T, m) and targets (n, T, m), as compiled gradients take them
        Y = Y.reshape(n, T, m)
    params.update(masks_of(network)(rng, m))  # dropout: its masks, drawn
    return params, X, Y


def masks_of(network, dtype="float64"):
    """``draw(rng, m) -> {"M2": mask, ...}``: each dropout layer's mask for a batch of m (1 keeps a unit)."""
    layers = [(str(key), width, dense.dropout) for (key, (width, _)), dense in
              zip(network.masks, [d for d in network.layers if getattr(d, "dropout", 0)])]

    def draw(rng, m):
        return {key: (rng.random((width, m)) >= p).astype(dtype) for key, width, p in layers}

    return draw
