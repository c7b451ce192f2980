"""How a user's backprop lays out its arrays: symbackprop's columns, or the rows most courses use.

``columns`` (the derivation's own): X (n_inputs, m), W (out, in), biases (n, 1) named ``B1``, targets as the
output layer (one-hot for a softmax), the cost a mean.  ``rows``: X (m, n_inputs), W (in, out), 1-D biases named
``b1``, integer class labels ``y`` for a softmax with cross-entropy (0/1 for one logistic unit), the cost summed or
averaged (told apart by what the function returns).  A layout converts our draws to the user's and their returned
gradients back, so that everything else (the comparison, naming the mistake) works in one convention.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserCodeError


class Named(dict):
    """The parameters as the user's function reads them: by name in any case (``b1`` finds ``B1``); ``read``
    records the name the user's code used for each one found that way (ours -> theirs)."""

    def __init__(self, *args, read: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.read = read if read is not None else {}

    def __missing__(self, key):
        for name in self:
            if isinstance(key, str) and name.lower() == key.lower():
                self.read.setdefault(name, key)
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


def _label(key, param: str) -> str | None:
    """The gradient as the user's code names it (``dW1``); None where it is keyed by the parameter's own name (the
    layout's default label then: ``dW1`` for rows, ``dC_dW1`` for columns)."""
    return None if str(key).lower() == param.lower() else str(key)


class Columns:
    name = "columns"
    description = "columns (samples are columns, W is (out, in), biases (n, 1) named B1, targets one-hot)"

    def __init__(self, network):
        self.network = network
        self.table = {p.name.lower(): p.name for p in network.params}
        self.labels = {}  # our name -> what the user's code called its gradient (dW1, nabla_w[0])
        self.read = {}  # our name -> the name the user's code read it by (b1 for B1), where it differs

    def inputs(self, params, X, Y):
        return Named({k: v.copy() for k, v in params.items()}, read=self.read), X.copy(), Y.copy()

    def gradients(self, out: dict) -> dict:
        """The returned gradients under our names (``dW1``, ``b1`` and ``W1`` alike)."""
        ours = {}
        for key, value in out.items():
            name = _ours(key, self.table)
            if name is not None and _label(key, self.their_name(name)):
                self.labels.setdefault(name, _label(key, self.their_name(name)))
            ours[name or key] = value
        return ours

    def label(self, name: str, default: str) -> str:
        """How the user's code names the gradient of parameter ``name`` (``default`` before it has answered)."""
        return self.labels.get(name, default)

    def their_name(self, name: str) -> str:
        """A parameter's name as the user's code has it (as it read it, once it has)."""
        return self.read.get(name, name)

    def their_shape(self, name: str, shape) -> tuple:
        """A shape in our orientation, as the user's arrays have it."""
        return tuple(shape)

    def their_index(self, name: str, index) -> list:
        return list(index)

    def samples(self, X) -> int:
        return X.shape[1]

    def sample(self, X, Y, j: int) -> tuple:
        """Sample ``j`` alone, as the user's arrays hold one (a column here)."""
        return X[:, j:j + 1], Y[:, j:j + 1]

    def _by_layer(self, base: str) -> list[str]:
        return [self.their_name(p.name) for p in sorted(self.network.params, key=lambda p: p.key.layer)
                if p.key.base == base]

    def from_lists(self, nabla_b, nabla_w) -> dict:
        """Per-layer lists of bias and weight gradients (a book's ``(nabla_b, nabla_w)``) as a dict by name."""
        names = self._by_layer("B"), self._by_layer("W")
        if any(len(got) != len(want) for got, want in zip((nabla_b, nabla_w), names)):
            raise UserCodeError(f"(nabla_b, nabla_w) hold {len(nabla_b)} and {len(nabla_w)} arrays; "
                                f"{self.network.spec} has {len(names[0])} biases and {len(names[1])} weights")
        for kind, their in zip(("nabla_b", "nabla_w"), names):
            for i, name in enumerate(their):
                self.labels.setdefault(self._our_name(name), f"{kind}[{i}]")
        return {**dict(zip(names[0], nabla_b)), **dict(zip(names[1], nabla_w))}

    def _our_name(self, theirs: str) -> str:
        return self.table[theirs.lower()]

    def place(self, obj, params: dict) -> None:
        """Set an instance's parameters where its class keeps them: ``self.params`` (a dict, by name in any case)
        or ``self.weights`` and ``self.biases`` (lists, layer by layer)."""
        store = getattr(obj, "params", None)
        if isinstance(store, dict):
            for name, value in params.items():
                store[next((k for k in store if str(k).lower() == name.lower()), name)] = value
        elif isinstance(getattr(obj, "weights", None), list) and isinstance(getattr(obj, "biases", None), list):
            obj.weights = [params[k] for k in self._by_layer("W")]
            obj.biases = [params[k] for k in self._by_layer("B")]
        else:
            raise UserCodeError(f"{type(obj).__name__} keeps its parameters neither in self.params (a dict) nor in "
                                "self.weights and self.biases (lists): check cannot set them")


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

    def samples(self, X) -> int:
        return X.shape[0]

    def sample(self, X, Y, j: int) -> tuple:
        return X[j:j + 1], Y[j:j + 1]

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
            if _label(key, self.their_name(name)):
                self.labels.setdefault(name, _label(key, self.their_name(name)))
            arr = np.asarray(value)
            if self.flat[name] and arr.ndim == 1:
                arr = arr.reshape(-1, 1)
            elif arr.ndim == 2:
                arr = arr.T
            ours[name] = arr
        return ours


LAYOUTS = {"columns": Columns, "rows": Rows}
