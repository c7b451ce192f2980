"""How a user's backprop lays out its arrays: symbackprop's columns, or the rows most courses use.

``columns`` (the derivation's own): X (n_inputs, m), W (out, in), biases (n, 1) named ``B1``, targets as the
output layer (one-hot for a softmax), the cost a mean.  ``rows``: X (m, n_inputs), W (in, out), 1-D biases named
``b1``, integer class labels ``y`` for a softmax with cross-entropy (0/1 for one logistic unit), the cost summed or
averaged (told apart by what the function returns).  A layout converts our draws to the user's and their returned
gradients back, so that everything else (the comparison, naming the mistake) works in one convention.
"""

from __future__ import annotations

import numpy as np


class Named(dict):
    """The parameters as the user's function reads them: by name in any case (``b1`` finds ``B1``)."""

    def __missing__(self, key):
        for name in self:
            if isinstance(key, str) and name.lower() == key.lower():
                return self[name]
        raise KeyError(key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key):
        return self.get(key) is not None


def _ours(key, table: dict) -> str | None:
    """Our name for a returned gradient's key: the parameter's name in any case, or it with a leading ``d``
    (``dW1``, ``db1``); ``table`` maps the lower-case names to ours."""
    text = str(key).lower()
    return table.get(text) or (table.get(text[1:]) if text.startswith("d") else None)


class Columns:
    name = "columns"
    description = "columns (samples are columns, W is (out, in), biases (n, 1) named B1, targets one-hot)"

    def __init__(self, network):
        self.network = network
        self.table = {p.name.lower(): p.name for p in network.params}

    def inputs(self, params, X, Y):
        return Named({k: v.copy() for k, v in params.items()}), X.copy(), Y.copy()

    def gradients(self, out: dict) -> dict:
        """The returned gradients under our names (``dW1``, ``b1`` and ``W1`` alike)."""
        return {(_ours(k, self.table) or k): v for k, v in out.items()}

    def their_name(self, name: str) -> str:
        """A parameter's name as the user's code has it."""
        return name

    def their_shape(self, name: str, shape) -> tuple:
        """A shape in our orientation, as the user's arrays have it."""
        return tuple(shape)

    def their_index(self, name: str, index) -> list:
        return list(index)


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
        self.table = {v.lower(): k for k, v in self.names.items()}
        self.flat = {p.name: p.shape[1] == 1 and not p.matrix for p in network.params}

    def their_name(self, name: str) -> str:
        return self.names.get(name, name)

    def their_shape(self, name: str, shape) -> tuple:
        """(in, out) for a weight, (n,) for a bias: transposed, a column flat."""
        if name in self.flat and self.flat[name] and len(shape) == 2 and shape[1] == 1:
            return (shape[0],)
        return tuple(shape)[::-1]

    def their_index(self, name: str, index) -> list:
        return [index[0]] if self.flat.get(name) else list(index)[::-1]

    def inputs(self, params, X, Y):
        theirs = Named()
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
            name = _ours(key, self.table)
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
