"""Trained models: predicting in the user's own labels, and the JSON model file (never pickle)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from . import checkpoint
from .checkpoint import Checkpoint
from .data import Scaling, task_of
from .errors import ModelFileError, SymbackpropError
from .fileio import atomic_write, existing_file
from .formulas import definition
from .grammar import parse_spec
from .layers.batchnorm import running
from .sequences import check_ids
from .spec import Network
from .terminal import escape

BLOCK = 65_536  # samples pushed through the network at a time when predicting
FORMAT = "symbackprop-model"
VERSION = 1


def _text(classes) -> bool:
    return bool(classes) and any(isinstance(c, str) for c in classes)


@dataclass(repr=False)
class Model:
    """A network with trained parameters, the feature scaling it was trained with and its labels."""

    network: Network
    params: dict[str, np.ndarray]
    scaling: Scaling = field(default_factory=Scaling)
    feature_names: list[str] | None = None
    target_name: str = "y"
    classes: list | None = None
    history: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    checkpoint: Checkpoint | None = None  # where mini-batch training stopped: what train --resume continues

    @property
    def task(self) -> str:
        return task_of(self.network)

    def __repr__(self) -> str:
        """A summary, as scikit-learn and PyTorch print their models: spec, cost, labels, size and scores."""
        parts = [f"{self.network.spec!r}", f"cost={self.network.cost.name}"]
        if self.classes is not None:
            shown = ", ".join(map(repr, self.classes[:5])) + (", ..." if len(self.classes) > 5 else "")
            parts.append(f"classes=[{shown}]")
        parts.append(f"parameters={self.network.n_params:,}")
        parts += [f"{name}={value:.4g}" for name, value in self.metrics.items()]
        return escape(f"Model({', '.join(parts)})")

    def _forward(self, X) -> np.ndarray:
        from .backends import numpy_module

        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.shape[1] != self.network.inputs:
            raise SymbackpropError(f"expected {self.network.inputs} feature values per sample, got {X.shape[1]}")
        bad = ~np.isfinite(X)
        if bad.any():
            row, col = (int(v[0]) for v in np.nonzero(bad))
            raise SymbackpropError(f"sample {row + 1}: feature {self._feature(col)} is not a finite number")
        if self.network.vocab is not None:
            check_ids(self.network.vocab, X, self.feature_names or [str(k + 1) for k in range(X.shape[1])])
        predict, n = numpy_module(self.network.eval()).predict, self.network.outputs  # no dropout
        out = np.empty((len(X), n))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # judged below, not warned about
            for start in range(0, len(X), BLOCK):  # a block at a time: the layers' values stay small
                out[start:start + BLOCK] = predict(self.params, self.scaling.apply(X[start:start + BLOCK]).T).T
        bad = ~np.isfinite(out)
        if bad.any():
            row = int(np.nonzero(bad)[0][0])
            raise SymbackpropError(f"sample {row + 1}: the network's output is not finite (its features are far "
                                   "outside what it can compute with)")
        return out

    def _feature(self, col: int) -> str:
        return f"'{self.feature_names[col]}'" if self.feature_names else str(col + 1)

    def predict_proba(self, X) -> np.ndarray:
        """The output layer for each sample: (n_samples, n_outputs); for one logistic output, P(class 1)."""
        return self._forward(X)

    def predict(self, X) -> np.ndarray:
        """Class labels (classification) or values (regression), one per sample."""
        out = self._forward(X)
        if self.task == "multiclass":  # units beyond the classes seen in training never answer
            labels = np.asarray(self.classes if self.classes else range(out.shape[1]),
                                dtype=object if _text(self.classes) else None)
            return labels[np.argmax(out[:, :len(labels)], axis=1)]
        if self.task == "binary":
            positive = (out[:, 0] >= 0.5).astype(int)
            return np.asarray(self.classes, dtype=object)[positive] if _text(self.classes) else positive
        if self.task == "multilabel":
            return (out >= 0.5).astype(int)
        return out[:, 0] if out.shape[1] == 1 else out

    def score(self, X, y) -> dict[str, float]:
        """``{"accuracy": ...}`` for classification, ``{"rmse": ..., "r2": ...}`` for regression."""
        y = np.asarray(y)
        pred = self.predict(X)
        if self.task == "regression":
            y = np.asarray(y, dtype=float).reshape(pred.shape)
            residual = float(np.sum((pred - y) ** 2))
            total = float(np.sum((y - y.mean(axis=0)) ** 2))
            return {"rmse": float(np.sqrt(residual / y.size)), "r2": 1.0 - residual / total if total > 0 else 0.0}
        return {"accuracy": float(np.mean(pred.reshape(y.shape) == y))}

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "spec": self.network.spec,
            "definitions": definitions(self.network),
            "cost": self.network.cost.name,
            **({"l2": self.network.l2} if self.network.l2 else {}),
            "scaling": self.scaling.to_json(),
            "features": self.feature_names,
            "target": self.target_name,
            "classes": self.classes,
            "params": {k: np.asarray(v, dtype=float).tolist() for k, v in self.params.items()},
            "history": self.history,
            "metrics": self.metrics,
            **({"training": self.checkpoint.to_json()} if self.checkpoint is not None else {}),
        }

    def save(self, path) -> None:
        """Write the model as JSON, atomically: a failed write leaves any existing file untouched."""
        for name, value in self.params.items():
            if not np.all(np.isfinite(value)):
                raise SymbackpropError(f"{path}: not written: parameter {name} has non-finite values")
        atomic_write(path, json.dumps(_finite(self.to_json()), indent=1, allow_nan=False) + "\n")


def definitions(network) -> list[str]:
    """The texts of the user definitions a network uses (stored in its model file, re-parsed on load)."""
    used = [layer.activation for layer in network.layers if hasattr(layer, "activation")] + [network.cost]
    return list(dict.fromkeys(x.text for x in used if isinstance(getattr(x, "text", None), str)))


def _finite(doc):
    """The JSON document with every non-finite number (a loss that overflowed) written as null."""
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: _finite(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_finite(v) for v in doc]
    return doc


MAX_MODEL_BYTES = 256 * 2**20


def load(path) -> Model:
    """Read and validate a model file; every problem is a one-line :class:`ModelFileError`."""
    path = existing_file(path, "model file", ModelFileError)
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path}: {size:,} bytes; a model file is at most {MAX_MODEL_BYTES:,} bytes")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path}: not a symbackprop model (not valid JSON: {err})") from None
    except RecursionError:
        raise ModelFileError(f"{path}: not a symbackprop model (JSON nested too deeply)") from None
    return from_json(doc, str(path))


def _history_entry(key, value) -> bool:
    """Whether one entry of a model file's history is what training writes: texts (the unit, device and
    optimizer), epochs (early stopping's best and last: whole numbers or null), or lists of numbers (the curves)."""
    if key in ("unit", "device", "optimizer"):
        return isinstance(value, str)
    if key in ("best_epoch", "stopped"):
        return value is None or (isinstance(value, int) and not isinstance(value, bool))
    return isinstance(value, list) and all(x is None or isinstance(x, (int, float)) for x in value)


def from_json(doc, where: str = "<model>") -> Model:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{where}: not a symbackprop model file (format is not '{FORMAT}')")
    if doc.get("version") != VERSION:
        raise ModelFileError(f"{where}: model file version {doc.get('version')!r} is not supported "
                             f"(this symbackprop reads version {VERSION})")
    texts = doc.get("definitions") or []
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ModelFileError(f"{where}: 'definitions' must be a list of texts")
    try:  # parsed by the same whitelist as --define: nothing in them runs, and nothing is registered
        own = [definition(text) for text in texts]
        if not isinstance(doc.get("cost", ""), str):
            raise ModelFileError(f"{where}: 'cost' must be the name of a cost")
        network = parse_spec(doc["spec"], doc.get("cost", "squared_error"), own).with_l2(doc.get("l2", 0.0))
    except KeyError:
        raise ModelFileError(f"{where}: the model file has no 'spec'") from None
    except SymbackpropError as err:
        raise ModelFileError(f"{where}: {err}") from None
    raw = doc.get("params")
    if not isinstance(raw, dict):
        raise ModelFileError(f"{where}: the model file has no 'params'")
    params = {}
    for param in network.eval().params:  # the trained parameters and batchnorm's running ones
        name, shape = param.name, param.shape
        if name not in raw:
            raise ModelFileError(f"{where}: parameter {name} is missing")
        try:
            arr = np.array(raw[name])
        except (TypeError, ValueError):
            arr = np.array(None)
        if arr.dtype.kind not in "iuf":  # written as numbers, not texts, nulls or true/false
            raise ModelFileError(f"{where}: parameter {name} is not a matrix of numbers")
        arr = arr.astype(float)
        if param.key == running(param.key.layer)[1] and arr.shape == shape and not np.all(arr > 0):
            raise ModelFileError(f"{where}: parameter {name} is a running variance, so every entry must be "
                                 "positive; this model file has one that is not")
        if arr.shape != shape:
            raise ModelFileError(f"{where}: parameter {name} has shape {arr.shape}, but {network.spec} "
                                 f"needs {shape}")
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(f"{where}: parameter {name} has non-finite values")
        params[name] = arr
    extra = sorted(set(raw) - set(params))
    if extra:
        raise ModelFileError(f"{where}: unexpected parameter {extra[0]} for {network.spec}")
    scaling = _scaling(doc.get("scaling") or {"kind": "none"}, network.inputs, where)
    features = doc.get("features")
    if features is not None and (not isinstance(features, list) or len(features) != network.inputs
                                 or not all(isinstance(f, str) for f in features)):
        raise ModelFileError(f"{where}: 'features' must list {network.inputs} names")
    classes = doc.get("classes")
    if classes is not None and (not isinstance(classes, list) or not classes
                                or not all(isinstance(c, (str, int, float)) and not isinstance(c, bool)
                                           for c in classes)):
        raise ModelFileError(f"{where}: 'classes' must be a list of labels (text or numbers)")
    if task_of(network) == "multiclass" and classes is not None and len(classes) > network.outputs:
        raise ModelFileError(f"{where}: {len(classes)} classes but the softmax layer has {network.outputs} units")
    if task_of(network) == "binary" and classes is not None and len(classes) != 2:
        raise ModelFileError(f"{where}: {len(classes)} classes but a single logistic output tells exactly two apart")
    if classes is not None and len({(type(c) is str, c) for c in classes}) != len(classes):
        raise ModelFileError(f"{where}: 'classes' lists a label twice")
    target = doc.get("target", "y")
    if not isinstance(target, str):
        raise ModelFileError(f"{where}: 'target' must be a column name")
    history, metrics = doc.get("history") or {}, doc.get("metrics") or {}
    if not isinstance(history, dict) or not all(_history_entry(k, v) for k, v in history.items()):
        raise ModelFileError(f"{where}: 'history' must map train/test to lists of numbers")
    if not isinstance(metrics, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                for v in metrics.values()):
        raise ModelFileError(f"{where}: 'metrics' must map names to numbers")
    for text in [*(features or []), *(c for c in classes or [] if isinstance(c, str)), target, *metrics]:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ModelFileError(f"{where}: a name in the model file is not valid text (a lone surrogate)") from None
    saved = None if doc.get("training") is None else checkpoint.from_json(doc["training"], network, where)
    return Model(network, params, scaling, features, target, classes, history, metrics, saved)


def _scaling(doc, n: int, where: str) -> Scaling:
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if kind == "none":
        return Scaling()
    if kind == "scale":
        factor = doc.get("factor")
        if not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor == 0:
            raise ModelFileError(f"{where}: scaling factor must be a non-zero number")
        return Scaling("scale", factor=float(factor))
    if kind == "standardize":
        mean, std = doc.get("mean"), doc.get("std")
        numbers = (isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == n
                   and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in [*mean, *std]))
        if not numbers:
            raise ModelFileError(f"{where}: standardize scaling needs 'mean' and 'std' of {n} numbers")
        if not all(math.isfinite(v) for v in [*mean, *std]) or not all(v > 0 for v in std):
            raise ModelFileError(f"{where}: standardize scaling needs finite means and positive standard deviations")
        return Scaling("standardize", mean=[float(v) for v in mean], std=[float(v) for v in std])
    raise ModelFileError(f"{where}: unknown scaling {kind!r}")
