"""scikit-learn estimators: ``SymbackpropClassifier`` and ``SymbackpropRegressor``, trained with derived gradients.

The hidden layers are a spec fragment (``hidden="16:relu"``, ``"32:tanh-16:relu"`` or ``""`` for none); the input
layer comes from the data and the output layer from the task: one logistic unit with binary cross-entropy for two
classes, a softmax with cross-entropy for more, identity units with squared error for a regression (whose targets
are standardised for training, as ``symbackprop train`` does).  Training is mini-batch Adam by default (as
scikit-learn's ``MLPClassifier``; ``optimizer=`` sgd, momentum, nesterov, rmsprop, adam or adamw, ``lr=None`` the
optimizer's default), seeded by ``random_state``.  The fitted network is ``model_`` (a
:class:`symbackprop.Model`) and its derivation ``derivation_``.  Needs scikit-learn.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .errors import SymbackpropError


class _Symbackprop(BaseEstimator):
    def __init__(self, hidden: str = "16:relu", batch_size: int = 32, epochs: int = 200, lr: float | None = None,
                 standardize: bool = True, random_state=0, backend: str | None = None, optimizer: str = "adam"):
        self.hidden = hidden
        self.batch_size = batch_size
        self.epochs = epochs
        self.lr = lr
        self.optimizer = optimizer
        self.standardize = standardize
        self.random_state = random_state
        self.backend = backend

    def _spec(self, n_in: int, output: str) -> str:
        hidden = (self.hidden or "").strip().strip("-")
        return "-".join([str(n_in)] + ([hidden] if hidden else []) + [output])

    def _fit(self, X, targets, output: str, cost: str):
        from .train import train

        seed = check_random_state(self.random_state).randint(2**31 - 1) if not isinstance(
            self.random_state, (int, np.integer)) else int(self.random_state)
        spec = self._spec(X.shape[1], output)
        try:
            self.model_ = train(spec, X, targets, cost, batch_size=int(self.batch_size), epochs=int(self.epochs),
                                lr=None if self.lr is None else float(self.lr), seed=seed,
                                standardize=bool(self.standardize), progress=False, backend=self.backend,
                                optimizer=self.optimizer)
        except SymbackpropError as err:
            raise ValueError(str(err)) from None
        return self

    @property
    def derivation_(self):
        """The derivation of the fitted network (``print(est.derivation_)`` shows it)."""
        from .derive import derive

        check_is_fitted(self, "model_")
        return derive(self.model_.network)

    def _output(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.model_.predict_proba(X)

    def __getstate__(self):
        """Picklable: the fitted model as its JSON document (what ``Model.save`` writes)."""
        state = dict(self.__dict__)
        if "model_" in state:
            state["model_"] = state["model_"].to_json()
        return state

    def __setstate__(self, state):
        from .model import from_json

        if isinstance(state.get("model_"), dict):
            state["model_"] = from_json(state["model_"], "pickled estimator")
        self.__dict__.update(state)


def _comparable_labels(y) -> None:
    """scikit-learn's ``ValueError`` for labels that cannot be classes (missing ones, text mixed with numbers),
    before sorting them fails with a ``TypeError``."""
    y = np.asarray(y, dtype=object) if np.asarray(y).dtype == object else np.asarray(y)
    if y.dtype != object:
        return
    values = y.ravel().tolist()
    if any(v is None or (isinstance(v, float) and v != v) for v in values):
        raise ValueError("Unknown label type: the labels contain None or NaN")
    if len({isinstance(v, str) for v in values}) > 1:
        raise ValueError("Mix of label input types (string and number)")


class SymbackpropClassifier(ClassifierMixin, _Symbackprop):
    """A classifier: ``fit(X, y)`` with any labels, ``predict``, ``predict_proba`` ((n, n_classes)), ``score``."""

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        _comparable_labels(y)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"Classifier can't train when only one class is present (the class is "
                             f"{self.classes_[0]!r})")
        if len(self.classes_) == 2:
            return self._fit(X, index.astype(float), "1:logistic", "binary_cross_entropy")
        return self._fit(X, index, f"{len(self.classes_)}:softmax", "cross_entropy")

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        out = self._output(X)
        return np.column_stack([1 - out[:, 0], out[:, 0]]) if len(self.classes_) == 2 else out

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class SymbackpropRegressor(RegressorMixin, _Symbackprop):
    """A regressor: ``fit(X, y)``, ``predict`` in y's units, ``score`` (R²)."""

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        y = column_or_1d(y, warn=True).astype(float)
        return self._fit(X, y, "1:identity", "squared_error")

    def predict(self, X) -> np.ndarray:
        return self._output(X)[:, 0]
