"""CSV data: reading with precise errors, targets for an output layer, splitting and scaling."""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError
from .fileio import existing_file


@dataclass
class Dataset:
    """Features ``X`` (n_samples, n_features), raw targets ``y`` (n_samples,), and their names.

    ``rows`` holds each sample's 1-based row number in the file, as an editor shows it.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target_name: str
    source: str = "<array>"
    rows: np.ndarray = field(default=None)

    def __post_init__(self):
        if self.rows is None:
            self.rows = np.arange(2, len(self.X) + 2)


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {text!r} is not a finite number")
    return value


CHUNK = 8_192  # rows converted to numbers at a time


def _count_lines(path: Path) -> int:
    """Line breaks in the file (plus one): never fewer than its records."""
    count = 1
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            count += chunk.count(b"\n")
    return count


DELIMITERS = ",;\t|"  # the separators a CSV file may use; the first line's most frequent one is the file's


def _delimiter(path: Path) -> str:
    """The separator of the file: whichever of :data:`DELIMITERS` its first non-blank line has most of (a comma on
    a tie or when it has none)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            line = next((text for text in fh if text.strip()), "")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file (it is not UTF-8)") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None
    counts = {d: line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _records(path: Path, delimiter: str = ","):
    """``(record number, cells)`` of the non-blank records, streamed (never the whole file in memory)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for number, row in enumerate(csv.reader(fh, delimiter=delimiter), start=1):
                if any(c.strip() for c in row):
                    yield number, row
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file (it is not UTF-8)") from None
    except csv.Error as err:
        raise DataError(f"{path}: not a valid CSV file ({err})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None


def _header(path, first, given: bool) -> list[str]:
    """The column names: the first record's cells, or ``x1``... when the file has no header row."""
    cells = [c.strip() for c in first[1]]
    if not given:
        return [f"x{k}" for k in range(1, len(cells) + 1)]
    if all(is_number(c) for c in cells):
        raise DataError(f"{path}, row {first[0]}: the first row is all numbers, not a header of column names; add "
                        "one, or give --no-header (columns x1, x2, ...; the last is the target)")
    return cells


def _columns(path, header, target, features, need_target) -> tuple[list[int], int | None]:
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise DataError(f"{path}: column '{dup}' appears twice in the header")
    if target is None:
        target_col = len(header) - 1 if need_target else None
    elif target in header:
        target_col = header.index(target)
    else:
        raise DataError(f"{path}: no column named '{target}' for --target (columns: {', '.join(header)})")
    if features is not None:
        missing = [f for f in features if f not in header]
        if missing:
            raise DataError(f"{path}: no column named '{missing[0]}' (the model's features: {', '.join(features)})")
        feat_cols = [header.index(f) for f in features]
        if need_target and target is None:
            target_col = None
    else:
        feat_cols = [i for i in range(len(header)) if i != target_col]
    if need_target and target_col is None and features is None:
        raise DataError(f"{path}: no target column")
    if not feat_cols:
        raise DataError(f"{path}: no feature columns besides the target '{header[target_col]}'")
    return feat_cols, target_col


def _convert(path, header, cols, rows, numbers) -> np.ndarray:
    """The cells ``cols`` of ``rows`` as a float array; on any bad cell, the first one named exactly."""
    try:
        out = np.array([[row[c] for c in cols] for row in rows], dtype=float).reshape(len(rows), len(cols))
    except ValueError:
        out = None
    if out is None or not np.all(np.isfinite(out)):
        for rowno, row in zip(numbers, rows):
            for c in cols:
                _number(row[c].strip(), f"{path}, row {rowno}, column '{header[c]}'")
    return out


def is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _labels(path, column: str, cells: list[str], numbers) -> list[str]:
    """Text class labels, stripped; an empty one is named."""
    out = [c.strip() for c in cells]
    for rowno, label in zip(numbers, out):
        if not label:
            raise DataError(f"{path}, row {rowno}, column '{column}': the class label is empty")
    return out


def read_csv(path: str | Path, target: str | None = None, features: list[str] | None = None,
             need_target: bool = True, header: bool = True) -> Dataset:
    """Read a CSV with a header row; the target is the last column unless ``target`` names one.

    The separator is found from the first line (comma, semicolon, tab or bar).  A first row of numbers only is
    refused as a header; with ``header=False`` there is none and the columns are named ``x1``, ``x2``, ...

    A target whose first value is not a number holds text class labels (``y`` is then an object array of str).

    With ``features`` (a model's feature names) those columns are the features, in that order.
    Every problem is a :class:`DataError` naming the file, row (1-based), column and value.  The file
    is read as a stream and converted to numbers a block of rows at a time: memory stays within a few
    times the numbers themselves.
    """
    path = existing_file(path, "file", DataError)
    records = _records(path, _delimiter(path))
    first = next(records, None)
    if first is None:
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    if not header:  # no header row: the first record is data
        records = itertools.chain([first], records)
    header = _header(path, first, header)
    feat_cols, target_col = _columns(path, header, target, features, need_target)
    most = _count_lines(path)  # at least the number of records: the arrays are allocated once
    X = np.empty((most, len(feat_cols)))
    y = np.empty(most if target_col is not None else 0)
    text_labels = False  # decided by the first data row: a target that is not a number is a text label
    numbers = np.empty(most, dtype=np.int32 if most < 2**31 else np.int64)
    block, block_numbers = [], []
    filled = 0

    def flush():
        nonlocal filled, y, text_labels
        end = filled + len(block)
        X[filled:end] = _convert(path, header, feat_cols, block, block_numbers)
        if target_col is not None and filled == 0 and not is_number(block[0][target_col]):
            text_labels, y = True, np.empty(len(y), dtype=object)
        if text_labels:
            y[filled:end] = _labels(path, header[target_col], [row[target_col] for row in block], block_numbers)
        elif target_col is not None:
            y[filled:end] = _convert(path, header, [target_col], block, block_numbers)[:, 0]
        numbers[filled:end] = block_numbers
        filled = end
        block.clear()
        block_numbers.clear()

    for rowno, row in records:
        if len(row) != len(header):
            raise DataError(f"{path}, row {rowno}: has {len(row)} cells but the header has {len(header)}")
        block.append(row)
        block_numbers.append(rowno)
        if len(block) == CHUNK:
            flush()
    if block:
        flush()
    if not filled:
        raise DataError(f"{path}: has a header row but no data rows")
    return Dataset(X[:filled], y[:filled] if target_col is not None else np.array([]),
                   [header[c] for c in feat_cols], header[target_col] if target_col is not None else "",
                   str(path), numbers[:filled])


def task_of(network) -> str:
    """``binary``, ``multiclass``, ``multilabel`` or ``regression``, from the output layer."""
    kind = network.output.activation.outputs
    if kind == "distribution" or network.cost.targets == "one-hot":  # a softmax, or scores under a multiclass hinge
        return "multiclass"
    if kind == "probability":
        return "binary" if network.outputs == 1 else "multilabel"
    return "regression"


def encode_targets(network, y: np.ndarray, classes=None, where: str = "<array>", rows=None, column: str = ""):
    """Targets as the network's Y (n_outputs, n_samples), and the class labels (or ``None``).

    ``y`` is (n_samples,) labels, or (n_samples, n_outputs) for several outputs.  Errors name
    ``where``, the row (``rows[k]``, 1-based) and the ``column``.
    """
    rows = np.arange(1, len(y) + 1) if rows is None else rows
    y = np.asarray(y)
    if y.dtype.kind in "OUS" and y.ndim == 1:  # text labels
        return _encode_text(network, y, classes, where, rows, column)
    y = np.asarray(y, dtype=float)

    def at(k: int) -> str:
        return f"{where}, row {rows[k]}" + (f", column '{column}'" if column else "")

    task, n_out = task_of(network), network.outputs
    if y.ndim == 2 and y.shape[1] == n_out and task != "multiclass":
        return y.T.copy(), None
    if y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
        raise DataError(f"{where}: targets have shape {y.shape}; expected ({len(y)},) or ({len(y)}, {n_out})")
    y = y.reshape(-1)
    if task == "multiclass":
        bad = np.flatnonzero(y != np.round(y))
        if bad.size:
            raise DataError(f"{at(bad[0])}: class label {y[bad[0]]:g} is not an integer")
        labels = [int(v) for v in np.unique(y)] if classes is None else list(classes)
        if len(labels) > n_out:
            raise DataError(f"{where}: {len(labels)} classes ({', '.join(map(str, labels[:8]))}"
                            f"{', ...' if len(labels) > 8 else ''}) but the softmax layer has {n_out} units")
        known = np.asarray(labels, dtype=float)
        pos = np.clip(np.searchsorted(known, y), 0, len(known) - 1)
        unseen = np.flatnonzero(known[pos] != y)
        if unseen.size:
            raise DataError(f"{at(unseen[0])}: class {int(y[unseen[0]])} was not seen in training")
        Y = np.zeros((n_out, len(y)))
        Y[pos, np.arange(len(y))] = 1.0
        return Y, labels
    if n_out != 1:
        raise DataError(f"{where}: one target column but the output layer has {n_out} units; "
                        "use a softmax output for classes, or a 1-unit output")
    if task == "binary":
        bad = np.flatnonzero((y != 0) & (y != 1))
        if bad.size:
            raise DataError(f"{at(bad[0])}: label {y[bad[0]]:g} is not 0 or 1, "
                            "as a single logistic output needs")
        return y.reshape(1, -1), [0, 1]
    return y.reshape(1, -1), None


def _encode_text(network, y, classes, where, rows, column):
    """Text labels as one-hot columns (softmax) or 0/1 (one logistic unit): the sorted distinct labels, or
    ``classes`` (a trained model's) when given; the labels come back to be stored with the model."""
    task, n_out = task_of(network), network.outputs
    y = np.array([str(v) for v in y], dtype=object)
    if task not in ("multiclass", "binary") or (task == "binary" and n_out != 1):
        k = 0
        raise DataError(f"{where}, row {rows[k]}" + (f", column '{column}'" if column else "")
                        + f": {y[k]!r} is not a number (text labels need a softmax or a 1-unit logistic output, or "
                          "--cost multiclass_hinge)")
    labels = sorted(set(y.tolist())) if classes is None else [str(c) for c in classes]
    limit = n_out if task == "multiclass" else 2
    if len(labels) > limit:
        what = f"the softmax layer has {n_out} units" if task == "multiclass" else \
            "a single logistic output tells two apart (use a softmax output for more)"
        raise DataError(f"{where}: {len(labels)} classes ({', '.join(labels[:8])}{', ...' if len(labels) > 8 else ''}"
                        f") but {what}")
    index = {label: k for k, label in enumerate(labels)}
    pos = np.fromiter((index.get(v, -1) for v in y), dtype=np.int64, count=len(y))
    unseen = np.flatnonzero(pos < 0)
    if unseen.size:
        k = unseen[0]
        raise DataError(f"{where}, row {rows[k]}" + (f", column '{column}'" if column else "")
                        + f": class {y[k]!r} was not seen in training")
    if task == "binary":
        return pos.reshape(1, -1).astype(float), labels
    Y = np.zeros((n_out, len(y)))
    Y[pos, np.arange(len(y))] = 1.0
    return Y, labels


def split(n: int, test_size: float, seed: int | None):
    """Shuffled train and test indices; ``test_size`` in (0, 1), or 0 for no test set."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_size))
    if test_size > 0 and (n_test < 1 or n - n_test < 1):
        raise DataError(f"{n} rows cannot be split into train and test sets with --test-size {test_size:g}")
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _blocks(X: np.ndarray, rows=None, size: int = CHUNK):
    """X (or its ``rows``) a block of rows at a time."""
    n = len(X) if rows is None else len(rows)
    for start in range(0, n, size):
        yield X[start:start + size] if rows is None else X[rows[start:start + size]]


@dataclass
class Scaling:
    """Feature scaling applied before the network: none, divide by a constant, or standardize."""

    kind: str = "none"
    factor: float = 1.0
    mean: list[float] | None = None
    std: list[float] | None = None

    @classmethod
    def fit(cls, X: np.ndarray, scale: float | None = None, standardize: bool = False, rows=None) -> Scaling:
        """The scaling for the samples ``rows`` of X (all by default), read a block at a time."""
        if standardize:
            n = len(X) if rows is None else len(rows)
            mean = sum(block.sum(axis=0) for block in _blocks(X, rows)) / n
            var = sum(((block - mean) ** 2).sum(axis=0) for block in _blocks(X, rows)) / n
            std = np.sqrt(var)
            return cls("standardize", mean=mean.tolist(), std=np.where(std > 0, std, 1.0).tolist())
        if scale is not None:
            return cls("scale", factor=float(scale))
        return cls()

    def apply(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        with np.errstate(over="ignore", invalid="ignore"):  # a value that overflows is named by the caller
            if self.kind == "scale":
                return X / self.factor
            if self.kind == "standardize":
                return (X - np.asarray(self.mean)) / np.asarray(self.std)
        return X

    def columns(self, X: np.ndarray, rows=None) -> np.ndarray:
        """``apply(X[rows]).T`` as one contiguous array (features, samples), made with a single allocation
        (the rows are gathered a block at a time, never copied whole)."""
        X = np.asarray(X, dtype=float)
        out = np.empty((X.shape[1], len(X) if rows is None else len(rows)))
        start = 0
        for block in _blocks(X, rows):
            out[:, start:start + len(block)] = block.T
            start += len(block)
        with np.errstate(over="ignore", invalid="ignore"):  # a value that overflows is named by the caller
            if self.kind == "scale":
                out /= self.factor
            elif self.kind == "standardize":
                out -= np.asarray(self.mean).reshape(-1, 1)
                out /= np.asarray(self.std).reshape(-1, 1)
        return out

    def to_json(self) -> dict:
        if self.kind == "scale":
            return {"kind": "scale", "factor": self.factor}
        if self.kind == "standardize":
            return {"kind": "standardize", "mean": self.mean, "std": self.std}
        return {"kind": "none"}
