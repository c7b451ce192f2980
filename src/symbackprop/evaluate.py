"""A trained model on a labelled file: the metrics scikit-learn's ``metrics`` module gives, computed with NumPy.

Classifiers: accuracy, the cross-entropy (log loss, nats per sample, as ``log_loss``), precision, recall and F1 per
class (as ``precision_recall_fscore_support``, 0 where a class is never predicted) and the confusion matrix (rows
the true class, columns the predicted one, as ``confusion_matrix``).  Regression: R², RMSE and MAE in the target's
units (``r2_score``, ``root_mean_squared_error``, ``mean_absolute_error``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

import numpy as np

from .data import encode_targets
from .model import Model

EPS = np.finfo(np.float64).eps  # probabilities are clipped to [eps, 1 - eps] before the log, as log_loss does


@dataclass
class Evaluation:
    """What ``evaluate`` measured: ``metrics`` by name, and for a classifier its classes, per-class scores and the
    confusion matrix."""

    task: str
    n: int
    metrics: dict[str, float]
    classes: list = field(default_factory=list)
    per_class: list[dict] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    title: str = ""

    def to_json(self) -> dict:
        out = {"task": self.task, "samples": self.n, "metrics": self.metrics}
        if self.classes:
            out.update(classes=self.classes, per_class=self.per_class, confusion=self.confusion)
        return out

    def to_text(self) -> str:
        lines = [self.title] if self.title else []
        notes = {"cross_entropy": " (log loss, nats per sample)"}
        lines += [f"{name}: {value:.4f}{notes.get(name, '')}" for name, value in self.metrics.items()]
        if self.classes:
            width = max(5, *(len(str(c)) for c in self.classes))
            lines.append(f"{'class':<{width}}  precision  recall      f1  support")
            lines += [f"{str(r['class']):<{width}}  {r['precision']:>9.4f}  {r['recall']:>6.4f}  {r['f1']:>6.4f}  "
                      f"{r['support']:>7d}" for r in self.per_class]
            lines.append("confusion matrix (rows: the true class, columns: the predicted class):")
            cell = max(width, *(len(str(v)) for row in self.confusion for v in row))
            lines.append(" " * width + "".join(f" {str(c):>{cell}}" for c in self.classes))
            lines += [f"{str(c):<{width}}" + "".join(f" {v:>{cell}}" for v in row)
                      for c, row in zip(self.classes, self.confusion)]
        return "\n".join(lines)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["metric", "class", "value"])
        for name, value in self.metrics.items():
            writer.writerow([name, "", f"{value:.6g}"])
        for row in self.per_class:
            for name in ("precision", "recall", "f1", "support"):
                writer.writerow([name, row["class"], f"{row[name]:.6g}"])
        for true, counts in zip(self.classes, self.confusion):
            for predicted, count in zip(self.classes, counts):
                writer.writerow([f"confusion[{true}]", predicted, count])
        return out.getvalue()

    def render(self, fmt: str) -> str:
        return json.dumps(self.to_json(), indent=2) if fmt == "json" else self.to_csv() if fmt == "csv" \
            else self.to_text()


def evaluate(model: Model, X, y, where: str = "<array>", rows=None, column: str = "") -> Evaluation:
    """The model's metrics on ``X`` (n_samples, n_features) with targets ``y``; a label it never saw in training
    is one line naming the row."""
    X = np.asarray(X, dtype=float)
    if model.task in ("binary", "multiclass"):
        return _classification(model, X, y, where, rows, column)
    pred = np.asarray(model.predict(X), dtype=float).reshape(len(X), -1)
    truth = np.asarray(y, dtype=float).reshape(pred.shape)
    residual = ((truth - pred) ** 2).sum(axis=0)
    total = ((truth - truth.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1), 0.0)
    metrics = {"r2": float(r2.mean()), "rmse": float(np.sqrt(((truth - pred) ** 2).mean(axis=0)).mean()),
               "mae": float(np.abs(truth - pred).mean(axis=0).mean())}
    return Evaluation("regression", len(X), metrics)


def _classification(model: Model, X, y, where, rows, column) -> Evaluation:
    Y, classes = encode_targets(model.network, np.asarray(y), model.classes, where, rows, column)
    out = model.predict_proba(X)
    if model.task == "binary":
        truth = Y[0].astype(int)
        proba = np.column_stack([1 - out[:, 0], out[:, 0]])
        classes = list(classes) if classes else [0, 1]
    else:
        truth = np.argmax(Y, axis=0)
        proba = out
        classes = list(classes) if classes else list(range(out.shape[1]))
    classes = [c if isinstance(c, str) else int(c) if float(c).is_integer() else float(c) for c in classes]
    k = len(classes)
    predicted = np.argmax(proba[:, :k], axis=1)  # units beyond the classes seen never answer
    p_true = np.clip(proba[np.arange(len(truth)), truth], EPS, 1 - EPS)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    tp = np.diag(confusion).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(confusion.sum(axis=0) > 0, tp / confusion.sum(axis=0), 0.0)
        recall = np.where(confusion.sum(axis=1) > 0, tp / confusion.sum(axis=1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    per_class = [{"class": c, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                 for c, p, r, f, s in zip(classes, precision, recall, f1, confusion.sum(axis=1))]
    metrics = {"accuracy": float((truth == predicted).mean())}
    if model.network.output.activation.outputs in ("distribution", "probability"):  # not a hinge's scores
        metrics["cross_entropy"] = float(-np.log(p_true).mean())
    return Evaluation(model.task, len(truth), metrics, classes, per_class, confusion.tolist())
