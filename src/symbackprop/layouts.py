"""How a user's backprop lays out its arrays: symbackprop's columns, or the rows most courses use.

``columns`` (the derivation's own): X (n_inputs, m), W (out, in), biases (n, 1) named ``B1``, targets as the
output layer (one-hot for a softmax), the cost a mean.  ``rows``: X (m, n_inputs), W (in, out), 1-D biases named
``b1``, integer class labels ``y`` for a softmax with cross-entropy (0/1 for one logistic unit), the cost summed or
averaged (told apart by what the function returns).  A layout converts our draws to the user's and their returned
gradients back, so that everything else (the comparison, naming the mistake) works in one convention.
"""

from __future__ import annotations

import numpy as np


class Columns:
    name = "columns"
    description = "columns (samples are columns, W is (out, in), biases (n, 1) named B1, targets one-hot)"

    def __init__(self, network):
        self.network = network

    def inputs(self, params, X, Y):
        return {k: v.copy() for k, v in params.items()}, X.copy(), Y.copy()

    def gradients(self, out: dict) -> dict:
        return dict(out)


class Rows(Columns):
    name = "rows"
    description = ("rows (samples are rows, W is (in, out), 1-D biases named b1, integer class labels; the cost "
                   "summed or averaged)")

    def __init__(self, network):
        super().__init__(network)
        self.names = {}  # ours -> theirs
        for p in network.params:
            theirs = p.name
            if p.key.base == "B":
                theirs = f"b{p.key.layer}"
            self.names[p.name] = theirs
        self.ours = {v.lower(): k for k, v in self.names.items()}
        self.flat = {p.name: p.shape[1] == 1 and not p.matrix for p in network.params}

    def inputs(self, params, X, Y):
        theirs = {}
        for name, value in params.items():
            value = value[:, 0].copy() if self.flat[name] else value.T.copy()
            theirs[self.names[name]] = value
        targets = self.network.cost.targets
        if targets == "one-hot":
            y = np.argmax(Y, axis=0)
        elif Y.shape[0] == 1:
            y = Y[0].copy()
        else:
            y = Y.T.copy()
        return theirs, X.T.copy(), y

    def gradients(self, out: dict) -> dict:
        """Their gradients under our names and in our shapes (a wrong shape stays wrong, transposed as ours)."""
        ours = {}
        for key, value in out.items():
            name = self.ours.get(str(key).lower())
            if name is None:
                ours[key] = value
                continue
            arr = np.asarray(value)
            if self.flat[name] and arr.ndim == 1:
                arr = arr.reshape(-1, 1)
            elif arr.ndim == 2:
                arr = arr.T
            ours[name] = arr
        return ours


LAYOUTS = {"columns": Columns, "rows": Rows}
