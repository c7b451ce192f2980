"""What the commands do, as library functions: train from a CSV, predict rows, run the demo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Dataset, encode_targets, is_number, read_csv, split
from .errors import DataError, SymbackpropError
from .grammar import parse_spec
from .model import Model
from .optimizers import get_optimizer
from .sequences import check_ids
from .terminal import counted
from .train import train


@dataclass
class TrainResult:
    model: Model
    n_train: int
    n_test: int
    method: str
    lr: float = 0.0  # the learning rate it ran with


def check_options(lr=None, iterations=None, epochs=None, batch_size=None, test_size=None, scale=None) -> None:
    """One clear line for an option out of range, before any work starts."""
    if lr is not None and not (np.isfinite(lr) and lr > 0):
        raise SymbackpropError(f"--lr must be a positive number, not {lr:g}")
    for name, value in (("--iterations", iterations), ("--epochs", epochs), ("--batch-size", batch_size)):
        if value is not None and value < 1:
            raise SymbackpropError(f"{name} must be at least 1, not {value}")
    if test_size is not None and not 0 <= test_size < 1:
        raise SymbackpropError(f"--test-size must be at least 0 and below 1, not {test_size:g}")
    if scale is not None and (not np.isfinite(scale) or scale == 0):
        raise SymbackpropError(f"--scale must be a non-zero number, not {scale:g}")


def train_dataset(ds: Dataset, net: str, cost: str | None = None, *, scale=None, standardize=False,
                  per_sample=None, batch_size=None, iterations=None, epochs=None, lr=None, seed=0,
                  test_size=1 / 3, progress=None, backend=None, dtype="float64",
                  target_scaling=True, l2=None, test: Dataset | None = None, optimizer=None,
                  early_stopping=None, val_size=None, schedule=None, resume: Model | None = None) -> TrainResult:
    """Split ``ds`` with the seed, train on the train part, score both parts into ``model.metrics``; with ``test``
    (another file's rows), train on every row of ``ds`` and test on those.  ``resume``: continue that model's
    training (its checkpoint keeps the seed and split it was trained with)."""
    check_options(lr, iterations, epochs, batch_size, test_size, scale)
    network = parse_spec(net, cost)
    if ds.X.shape[1] != network.inputs:
        shape = (f" (a {'×'.join(map(str, network.image))} image: its C·H·W = {network.inputs} features, "
                 "in C order, channel by channel, row by row)") if network.image else ""
        raise DataError(f"{ds.source}: has {ds.X.shape[1]} feature columns ({', '.join(ds.feature_names)}) "
                        f"but {network.spec} takes {network.inputs} inputs{shape}")
    if network.vocab is not None:
        check_ids(network.vocab, ds.X, ds.feature_names, ds.source, ds.rows)
        if test is not None:
            check_ids(network.vocab, test.X, test.feature_names, test.source, test.rows)
    # every row's label is checked here, so an error names the row in the file
    _, classes = encode_targets(network, ds.y, where=ds.source, rows=ds.rows, column=ds.target_name)
    tr, te = split(len(ds.X), 0 if test is not None else test_size, seed)
    held = ds if test is None else test
    if test is not None:  # its labels must be ones training sees
        encode_targets(network, test.y, classes, where=test.source, rows=test.rows, column=test.target_name)
        te = np.arange(len(test.X))
    if per_sample is None:
        per_sample = batch_size is None and epochs is None
    validation = (held.X, held.y, te)
    if (early_stopping is None) != (val_size is None):
        raise SymbackpropError("--early-stopping and --val-size go together: the validation split is held out of "
                               "the training rows for early stopping")
    if val_size is not None:
        if not 0 < val_size < 1:
            raise SymbackpropError(f"--val-size must be above 0 and below 1, not {val_size:g}")
        fit, va = split(len(tr), val_size, seed)
        tr, validation = tr[fit], (ds.X, ds.y, tr[va])
    model = train(network, ds.X, ds.y, per_sample=per_sample, iterations=iterations, rows=tr,
                  batch_size=batch_size, epochs=epochs, lr=lr, seed=seed, scale=scale, standardize=standardize,
                  validation=validation, feature_names=ds.feature_names,
                  target_name=ds.target_name, classes=classes, progress=progress, backend=backend, dtype=dtype,
                  target_scaling=target_scaling, l2=l2, optimizer=optimizer, early_stopping=early_stopping,
                  schedule=schedule, resume=resume)
    if model.checkpoint is not None and resume is None:  # how the rows were split: a resumed run splits alike
        model.checkpoint.options.update(test_size=None if test is not None else test_size, val_size=val_size,
                                        tested_on_file=test is not None)
    metrics = {f"train {k}": v for k, v in model.score(ds.X[tr], ds.y[tr]).items()}
    if len(te):  # --test-size 0 trains on every row and has no test metrics
        metrics.update({f"test {k}": v for k, v in model.score(held.X[te], held.y[te]).items()})
    model.metrics = metrics
    opt = model.history.get("optimizer") or get_optimizer(optimizer).summary()
    if model.checkpoint is not None:
        lr, batch_size = model.checkpoint.options["lr"], model.checkpoint.options["batch_size"]
    lr = get_optimizer(optimizer).default_lr if lr is None else lr
    method = (f"per-sample {'SGD' if opt == 'sgd' else opt}, {counted(iterations or 100_000, 'step')}" if per_sample
              else f"mini-batch {'SGD' if opt == 'sgd' else opt}, batch size {batch_size or 32}, "
                   f"{counted(epochs or 100, 'epoch')}")
    if "device" in model.history:
        method += f", {model.history['device']}"
    return TrainResult(model, len(tr), len(te), method, lr)


def train_csv(path, net: str, target=None, header: bool = True, test=None, **options) -> TrainResult:
    """Read ``path`` (a header row unless ``header`` is false; the target is the last column unless ``target`` names
    one) and train; ``test`` is a file of the same columns to test on instead of a split of ``path``.

    The per-sample code is compiled before the file is read, so that compiling and the data never take
    their memory at the same time."""
    if options.get("per_sample", True) and options.get("batch_size") is None and options.get("epochs") is None \
            and options.get("backend") in (None, "numba"):
        from .backends import per_sample_module

        network = parse_spec(net, options.get("cost"))
        if not (network.masks or network.batch_coupled or network.has_images):  # refused in one line by train
            per_sample_module(network)
    ds = read_csv(path, target=target, header=header)
    held = None if test is None else read_csv(test, target=ds.target_name, features=ds.feature_names, header=header)
    return train_dataset(ds, net, test=held, **options)


def describe(model: Model, X) -> list[str]:
    """One line per sample: ``class 1 (p=0.97)`` for a classifier, the value for a regression."""
    X = np.asarray(X, dtype=float)
    out = model.predict_proba(X)
    pred = model.predict(X)
    lines = []
    for k in range(len(X)):
        if model.task == "binary":
            p = out[k, 0] if out[k, 0] >= 0.5 else 1 - out[k, 0]
            lines.append(f"class {pred[k]} (p={p:.2f})")
        elif model.task == "multiclass":
            lines.append(f"class {pred[k]} (p={out[k].max():.2f})")
        elif model.task == "multilabel":
            lines.append("classes " + " ".join(str(v) for v in pred[k]))
        else:
            lines.append(" ".join(f"{v:.6g}" for v in np.atleast_1d(out[k])))
    return lines


def write_predictions(model: Model, X, rows, out, where: str = "") -> None:
    """CSV to ``out``: the file's row number, the prediction and its probability (classifiers), one row a sample;
    a value that is not a token id (a token model) is named by its row in the file ``where`` before any is."""
    import csv

    X = np.asarray(X, dtype=float)
    if model.network.vocab is not None:
        check_ids(model.network.vocab, X, model.feature_names or [str(k + 1) for k in range(X.shape[1])], where, rows)
    writer = csv.writer(out, lineterminator="\n")
    head = ["row"] + (["prediction", "p"] if model.task in ("binary", "multiclass") else
                      [f"prediction_{k + 1}" for k in range(model.network.outputs)] if model.network.outputs > 1
                      else ["prediction"])
    writer.writerow(head)
    for start in range(0, len(X), 65_536):  # a block at a time: any number of rows
        block = X[start:start + 65_536]
        out_layer, pred = model.predict_proba(block), model.predict(block)
        for k in range(len(block)):
            row = [int(rows[start + k])]
            if model.task == "binary":
                p = out_layer[k, 0]
                row += [pred[k], f"{max(p, 1 - p):.4f}"]
            elif model.task == "multiclass":
                row += [pred[k], f"{out_layer[k].max():.4f}"]
            else:
                row += [f"{v:.6g}" for v in np.atleast_1d(pred[k])]
            writer.writerow(row)


def parse_values(text: str | list[str], n: int, where: str = "values") -> np.ndarray:
    """``"255,255,255"`` or ``["255", "255", "255"]`` into one row of ``n`` numbers."""
    parts = text.replace(",", " ").split() if isinstance(text, str) else [v for t in text
                                                                          for v in t.replace(",", " ").split()]
    if len(parts) != n:
        raise SymbackpropError(f"{where}: expected {n} numbers, got {len(parts)}")
    try:
        row = [float(v) for v in parts]
    except ValueError:
        bad = next(v for v in parts if not is_number(v))
        raise SymbackpropError(f"{where}: '{bad}' is not a number") from None
    if not all(np.isfinite(row)):
        raise SymbackpropError(f"{where}: values must be finite numbers")
    return np.array([row])


def demo(data=None, seed: int = 1, progress=None, say=print) -> TrainResult:
    """Show the reference derivation, train the textbook 3-3-1 font network and predict named colours."""
    from .demo import NAMED_COLOURS, font_colour_data
    from .derive import derive

    say("The reference network X -> Z1 = X*W1 + B1 -> A1 = ReLU(Z1) -> Z2 = A1*W2 + B2 -> A2 = logistic(Z2),")
    say("cost C = (A2 - Y)**2. Each local derivative of backpropagation, derived by SymPy:")
    say("")
    for line in derive("1-1:relu-1:logistic").to_text().splitlines():
        say("  " + line)
    say("")
    if data is None:
        X, y = font_colour_data(1500, seed=0)
        ds = Dataset(X, y, ["RED", "GREEN", "BLUE"], "LIGHT_OR_DARK_FONT_IND", "WCAG font-colour data")
        say("Training the textbook's 3-3-1 network (ReLU, logistic) to choose a dark (1) or light (0) font")
        say("for 1,500 random background colours, labelled by the WCAG 2 contrast rule.")
    else:
        ds = read_csv(data)
        say(f"Training the textbook's 3-3-1 network (ReLU, logistic) on {data}.")
    result = train_dataset(ds, "3-3:relu-1:logistic", scale=255, per_sample=True, iterations=100_000, lr=0.05,
                           seed=seed, progress=progress)
    say(f"{result.method}, learning rate 0.05, inputs / 255; {result.n_train} rows to train, "
        f"{result.n_test} to test.")
    say("")
    names = list(NAMED_COLOURS)
    rows = np.array([NAMED_COLOURS[n] for n in names], dtype=float)
    for name, rgb, line, label in zip(names, rows, describe(result.model, rows), result.model.predict(rows)):
        font = "dark font" if label == 1 else "light font"
        say(f"  {name:<13} {tuple(int(v) for v in rgb)!s:<16} {font:<11} {line}")
    say("")
    for key, value in result.model.metrics.items():
        say(f"{key}: {value:.4f}")
    return result


def _has_column(path, name: str) -> bool:
    """Whether the CSV's header row names ``name``."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as fh:
        return name in [h.strip() for h in next(csv.reader(fh), [])]


def write_report(out, spec: str | None = None, cost: str | None = None, model=None, fmt: str = "html",
                 data=None, optimizer=None) -> None:
    """Write the report for ``spec`` (default the reference network) or a model file, atomically; with a model,
    ``data`` (a CSV with its features) is where the worked example's sample is chosen from; ``optimizer`` (a name)
    adds its update rule (a model trained with one shows its own)."""
    from .derive import derive
    from .fileio import atomic_write
    from .model import load
    from .render.report import render_html, render_report_markdown

    loaded = load(model) if model else None
    if loaded is not None and spec is not None and parse_spec(spec).spec != loaded.network.spec:
        raise SymbackpropError(f"the spec {spec!r} does not match the model's {loaded.network.spec!r}")
    network = loaded.network if loaded else parse_spec(spec or "1-1:relu-1:logistic", cost)
    d = derive(network.eval() if loaded else network)  # a model's report is of the network as it predicts
    rows = None
    if data is not None:
        if loaded is None:
            raise SymbackpropError("--data chooses the worked example of a trained model: give --model too")
        has_target = _has_column(data, loaded.target_name)
        ds = read_csv(data, target=loaded.target_name if has_target else None,
                      features=loaded.feature_names or None, need_target=has_target)
        if ds.X.shape[1] != network.inputs:
            raise SymbackpropError(f"{data}: has {ds.X.shape[1]} feature columns but the model takes "
                                   f"{network.inputs}")
        rows = (ds.X, Path(data).name, ds.rows, ds.y if has_target else None)
    render = render_report_markdown if fmt == "markdown" else render_html
    text = render(d, loaded, data=rows, optimizer=None if optimizer is None else get_optimizer(optimizer))
    atomic_write(out, text)
