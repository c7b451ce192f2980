"""The command line's model side: train on a CSV (or hand a text to ``cli_text``), predict, evaluate (parse, call,
print)."""

from __future__ import annotations

import sys
from pathlib import Path

from .cli_options import optimizer_of, resume_args
from .errors import SymbackpropError
from .terminal import escape


def say_default_cost(spec, cost) -> None:
    """One line on stderr when a softmax output gets cross_entropy because --cost was not given."""
    from .grammar import parse_spec
    from .spec import default_cost

    if cost is None and spec:
        network = parse_spec(spec)
        if default_cost(network) != "squared_error":
            print(f"symbackprop: cost {network.cost.name} (the default for a {network.output.activation.name} "
                  "output; --cost chooses another)", file=sys.stderr)


def print_metrics(model) -> None:
    for key, value in model.metrics.items():
        print(f"{key}: {value:.4f}")


def train(args) -> int:
    from . import cli_text
    from .fileio import writable
    from .workflows import check_options, train_csv

    if cli_text.is_text(args):
        return cli_text.train(args)

    for option in ("block", "stream"):
        if getattr(args, option, None) not in (None, False):
            raise SymbackpropError(f"--{option} is for training on a text (a .txt file or --text), not on a CSV")
    args.resumed = None
    if args.resume:
        resume_args(args)
    elif not args.net:
        raise SymbackpropError("train needs --net SPEC (or --resume MODEL.json to continue a model's training)")
    if args.test and args.test_size is not None:
        raise SymbackpropError("--test FILE and --test-size: give one (a file to test on, or a share to hold out)")
    test_size = 1 / 3 if args.test_size is None else args.test_size
    check_options(args.lr, args.iterations, args.epochs, args.batch_size, test_size, args.scale)
    if args.plot:
        from .plot import require_matplotlib

        require_matplotlib()
    if args.per_sample and args.epochs:
        raise SymbackpropError("--epochs goes with mini-batch training; use --iterations with --per-sample")
    for option, path in (("--out", args.out), ("--plot", args.plot)):
        if path:
            writable(path, option)
    per_sample = args.per_sample or (args.batch_size is None and args.epochs is None)
    optimizer = optimizer_of(args) if args.resumed is None else None  # a resumed run: the model's
    if args.resumed is None:
        say_default_cost(args.net, args.cost)
    result = train_csv(args.data, args.net, target=args.target, header=args.header, test=args.test,
                       test_size=test_size, cost=args.cost, scale=args.scale,
                       standardize=args.standardize, per_sample=per_sample, batch_size=args.batch_size,
                       iterations=args.iterations, epochs=args.epochs, lr=args.lr,
                       seed=1 if args.seed is None else args.seed, resume=args.resumed,
                       backend=args.backend, dtype=args.dtype,
                       target_scaling=args.target_scaling, l2=args.l2, optimizer=optimizer,
                       early_stopping=args.early_stopping, val_size=args.val_size,
                       schedule={"kind": args.lr_schedule, "step_size": args.step_size, "gamma": args.gamma,
                                 "warmup": args.warmup, "clip_norm": args.clip_norm})
    model = result.model
    print(f"trained {model.network.spec} ({model.network.cost.name}) on {result.n_train} rows of {args.data}, "
          + (f"tested on {result.n_test}" + (f" rows of {args.test}" if args.test else "") if result.n_test
             else "no test set (--test-size 0)")
          + f": {result.method}, learning rate {result.lr:g}"
          + (f" (resumed: epochs {model.checkpoint.epochs - args.epochs + 1} to {model.checkpoint.epochs})"
             if args.resumed else ""))
    if "best_epoch" in model.history:
        stopped = model.history["stopped"]
        print((f"stopped early after epoch {stopped}: " if stopped else "")
              + f"the validation loss was lowest at epoch {model.history['best_epoch']} (the model keeps those "
                "weights)")
    if args.plot:
        from .plot import loss_curve

        loss_curve(model.history, args.plot, title=f"{model.network.spec}, {result.method}",
                   cost=model.network.cost.name)
        print(f"loss curve written to {args.plot}")
    if args.out:
        model.save(args.out)
        print(f"model written to {args.out}")
    print_metrics(model)
    return 0


def predict(args) -> int:
    from .data import is_number, read_csv
    from .model import load
    from .workflows import describe, parse_values, write_predictions

    model = load(args.model)
    n = model.network.inputs
    if args.csv:
        ds = read_csv(args.csv, features=model.feature_names if model.feature_names and args.header else None,
                      need_target=False, header=args.header)
        if ds.X.shape[1] != n:
            raise SymbackpropError(f"{args.csv}: has {ds.X.shape[1]} feature columns but the model takes {n}")
        write_predictions(model, ds.X, ds.rows, sys.stdout, args.csv)
        return 0
    if args.values:
        if len(args.values) == 1 and not is_number(args.values[0].split(",")[0]) and Path(args.values[0]).is_file():
            raise SymbackpropError(f"values: {args.values[0]!r} is a file, not {n} numbers; to predict each of its "
                                   f"rows give --csv {args.values[0]}")
        print(describe(model, parse_values(args.values, n))[0])
        return 0
    if not sys.stdin.isatty():  # values from a pipe: one sample a line
        for number, text in enumerate(sys.stdin, start=1):
            if text.strip():
                print(describe(model, parse_values(text, n, where=f"standard input, line {number}"))[0])
        return 0
    names = ",".join(model.feature_names or [f"x{i}" for i in range(n)])
    while True:  # the textbook's loop: "Input values R,G,B"
        try:
            text = input(f"Input values {names} (empty to stop): ")
        except EOFError:
            return 0
        if not text.strip():
            return 0
        try:
            print(describe(model, parse_values(text, n))[0])
        except SymbackpropError as err:
            print(f"symbackprop: {escape(str(err))}", file=sys.stderr)


def evaluate(args) -> int:
    from . import cli_text
    from .data import read_csv
    from .evaluate import evaluate
    from .language import is_language_model
    from .model import load

    if is_language_model(args.model):
        return cli_text.evaluate(args)

    model = load(args.model)
    target = args.target or model.target_name
    ds = read_csv(args.data, target=target, features=model.feature_names if model.feature_names and args.header
                  else None, header=args.header)
    if ds.X.shape[1] != model.network.inputs:
        raise SymbackpropError(f"{args.data}: has {ds.X.shape[1]} feature columns but the model takes "
                               f"{model.network.inputs}")
    result = evaluate(model, ds.X, ds.y, where=str(args.data), rows=ds.rows, column=ds.target_name)
    if args.format == "text":
        result.title = f"evaluated {args.model} on {result.n} rows of {args.data} (target '{ds.target_name}')"
    print(result.render(args.format), end="" if args.format == "csv" else "\n")
    return 0
