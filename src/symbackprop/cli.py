"""The ``symbackprop`` command: parses arguments, calls the library, prints; nothing else."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from . import __version__, cli_train
from .cli_options import (
    COSTS_HELP,
    check_options,
    define_option,
    header_option,
    l2_option,
    train_options,
)
from .cli_train import say_default_cost
from .errors import SymbackpropError, Terminated
from .formulas import define
from .terminal import Escaping, escape

REFERENCE_SPEC = "1-1:relu-1:logistic"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is our one-line error with exit code 2, and an option is only ever its whole
    name (``--test`` is not ``--test-size``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):
        command = self.prog.split()[-1]
        raise SymbackpropError(message if command == "symbackprop" else f"{command}: {message}")


def _cmd_derive(args) -> int:
    from .derive import derive
    from .optimizers import get_optimizer

    optimizer = get_optimizer(args.optimizer) if args.optimizer else None
    if optimizer is not None and args.format != "text":
        raise SymbackpropError("derive --optimizer prints the update equations in the text format only")
    say_default_cost(args.spec, args.cost)
    d = derive(args.spec, args.cost, l2=args.l2)
    forms = {"entries": args.entries, "expanded": args.expanded, "cse": args.cse}
    if args.format == "json":
        print(json.dumps(d.to_json(**forms), indent=2))
    elif args.format == "latex":
        print(d.to_latex(**forms))
    elif args.format == "markdown":
        print(d.to_markdown(**forms), end="")
    else:
        print(d.to_text(**forms))
    if optimizer is not None and args.format == "text":
        print(optimizer.text())
    return 0


def _cmd_demo(args) -> int:
    from .workflows import demo

    demo(data=args.data, seed=args.seed)
    return 0


def _cmd_check(args) -> int:
    from .check import check_file
    from .isolate import in_child

    if args.layer is not None:
        return _check_layer(args)
    if args.function is None:
        raise SymbackpropError("check needs SPEC FILE.py:FUNC (or --layer KIND FILE.py:FUNC)")
    say_default_cost(args.spec, args.cost)
    report = in_child(lambda: check_file(args.spec, args.function, cost=args.cost, trials=args.trials,
                                         seed=args.seed, timeout=args.timeout, layout=args.layout,
                                         scale=args.scale, reg=args.reg, forward=args.forward),
                      f"{args.function}")
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text())
    return 0 if report.ok else 1


def _check_layer(args) -> int:
    from .check import check_layer
    from .isolate import in_child

    if args.function is not None:
        raise SymbackpropError(f"--layer {args.layer} takes FILE.py:FUNC only, not a spec ({args.spec!r})")
    report = in_child(lambda: check_layer(args.layer, args.spec, trials=args.trials, seed=args.seed,
                                          timeout=args.timeout, forward=args.forward, sizes=args.sizes),
                      f"{args.spec}")
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text())
    return 0 if report.ok else 1


def _cmd_gradcheck(args) -> int:
    from .check import gradcheck

    say_default_cost(args.spec, args.cost)
    from .derive import derive

    report = gradcheck(derive(args.spec, args.cost, l2=args.l2), seed=args.seed)
    print(json.dumps(report.to_json(), indent=2) if args.json else report.to_text())
    return 0 if report.ok else 1


def _cmd_report(args) -> int:
    from .workflows import write_report

    out = args.out or ("report.md" if args.format == "markdown" else "report.html")
    write_report(out, spec=args.spec, cost=args.cost, model=args.model, fmt=args.format, data=args.data,
                 optimizer=args.optimizer)
    print(f"report written to {out}")
    return 0


def _cmd_export(args) -> int:
    from .export import export

    target = args.target
    if target.endswith(".json"):
        from .model import load

        target = load(target)
    for path in export(target, args.to, out_dir=args.out, name=args.name, dtype=args.dtype,
                       optimizer=args.optimizer):
        print(f"wrote {path}")
    return 0


def _cmd_data(args) -> int:
    from .datasets import DATASETS, get, write

    if args.name is None:
        for d in DATASETS.values():
            print(f"{d.name:<14} {d.what} ({f'target column {d.target}; ' if d.target else ''}{d.licence})")
        return 0
    if args.out == "-":
        sys.stdout.write(get(args.name).text())
        return 0
    path = write(args.name, args.out)
    print(f"wrote {path} ({get(args.name).describe(get(args.name).text())})")
    return 0


def _command(sub, name: str, summary: str):
    """A subcommand whose description is its one-line summary."""
    return sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symbackprop", description=__doc__.split(":")[0] if __doc__ else None)
    parser.description = "Derive, show, prove and use the backpropagation of a feed-forward network."
    parser.add_argument("--version", action="version", version=f"symbackprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = _command(sub, "derive", "derive every local derivative and the chain rule")
    define_option(p)
    p.add_argument("spec", nargs="?", default=REFERENCE_SPEC,
                   help=f"network spec INPUTS-WIDTH:ACT-... (default {REFERENCE_SPEC}, the reference)")
    p.add_argument("--cost", default=None, help=COSTS_HELP)
    p.add_argument("--format", choices=["text", "latex", "markdown", "json"], default="text",
                   help="text (default), latex, markdown or json")
    p.add_argument("--entries", action="store_true", help="also the per-entry form")
    p.add_argument("--expanded", action="store_true", help="also the fully expanded form (small networks)")
    p.add_argument("--cse", action="store_true",
                   help="also the fully expanded form after common-subexpression elimination")
    l2_option(p)
    p.add_argument("--optimizer", metavar="NAME", help="also the update equations of this optimizer (sgd, momentum, "
                   "nesterov, rmsprop, adam, adamw)")
    p.set_defaults(func=_cmd_derive)

    p = _command(sub, "train", "train a network on a CSV file, or a language model on a text, with the derived "
                 "gradients")
    define_option(p)
    p.add_argument("data", help="CSV with a header row (the target is the last column unless --target), or a .txt "
                   "file: one example a line, for a character model")
    p.add_argument("--net", help="network spec, e.g. 3-3:relu-1:logistic (a text: default a small transformer)")
    p.add_argument("--text", action="store_true", help="DATA is a text whatever its name")
    p.add_argument("--block", type=int, metavar="T", help="a text's positions (default its longest line + 1)")
    p.add_argument("--stream", action="store_true",
                   help="the text is one long text, read in windows of --block T (line ends are characters)")
    p.add_argument("--target", help="name of the target column")
    header_option(p, "the columns are x1, x2, ...; the last is the target")
    train_options(p)
    p.add_argument("--resume", metavar="MODEL.json",
                   help="continue that model's mini-batch training for --epochs more, with its own options, "
                        "optimizer state and generator: the numbers of one uninterrupted run (same DATA)")
    p.add_argument("--out", metavar="MODEL.json", help="write the trained model here")
    p.add_argument("--plot", metavar="LOSS.png", help="write the train/test loss curve (needs matplotlib)")
    p.set_defaults(func=cli_train.train)

    p = _command(sub, "predict", "predict with a trained model")
    p.add_argument("model", help="MODEL.json written by train --out")
    p.add_argument("values", nargs="*", help="one sample's feature values (or comma-separated)")
    p.add_argument("--csv", metavar="FILE",
                   help="predict every row of FILE; prints CSV: the file's row number, the prediction and (a "
                        "classifier's) its probability")
    header_option(p, "its columns are the model's features, in order")
    p.set_defaults(func=cli_train.predict)

    p = _command(sub, "evaluate", "a trained model's metrics on a labelled CSV file (a language model's: on a text)")
    p.add_argument("model", help="MODEL.json written by train --out")
    p.add_argument("data", help="CSV with the model's features and the target column (a language model: a .txt)")
    p.add_argument("--target", help="name of the target column (default: the one the model was trained on)")
    p.add_argument("--format", choices=["text", "json", "csv"], default="text",
                   help="text (default), json or csv (metric,class,value)")
    header_option(p, "its columns are the model's features, in order, then the target")
    p.set_defaults(func=cli_train.evaluate)

    from .cli_text import sample_parser

    sample_parser(sub, _command)

    p = _command(sub, "data", "write an example data set: font, digits, iris, wine, breast_cancer, diabetes (CSV), "
                 "names (text)")
    p.add_argument("name", nargs="?", help="the data set; without it, the list of them")
    p.add_argument("--out", metavar="FILE", help="where to write it (default NAME.csv or NAME.txt here; - prints it)")
    p.set_defaults(func=_cmd_data)

    p = _command(sub, "check", "check your own backprop function entry by entry")
    define_option(p)
    check_options(p)
    p.set_defaults(func=_cmd_check)

    p = _command(sub, "gradcheck", "finite differences against the derived gradients")
    define_option(p)
    p.add_argument("spec", nargs="?", default=REFERENCE_SPEC,
                   help=f"network spec (default {REFERENCE_SPEC}, the reference)")
    p.add_argument("--cost", default=None, help=COSTS_HELP)
    p.add_argument("--seed", type=int, default=0, help="seed of the random point checked (default 0)")
    l2_option(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_cmd_gradcheck)

    p = _command(sub, "report", "a self-contained HTML (or Markdown) report of the derivation")
    define_option(p)
    p.add_argument("spec", nargs="?", default=None, help=f"network spec (default {REFERENCE_SPEC}, or the model's)")
    p.add_argument("--cost", default=None, help=COSTS_HELP + " (or the model's)")
    p.add_argument("--model", metavar="MODEL.json", help="report on a trained model: its weights, curves, pictures")
    p.add_argument("--data", metavar="CSV", help="with --model: pick the worked example from these rows (where "
                   "its units are active)")
    p.add_argument("--out", metavar="FILE", help="default report.html (report.md with --format markdown)")
    p.add_argument("--format", choices=["html", "markdown"], default="html",
                   help="html (default: MathML and SVG, no JavaScript) or markdown ($$ math)")
    p.add_argument("--optimizer", metavar="NAME", help="also the update equations of this optimizer (sgd, momentum, "
                   "nesterov, rmsprop, adam, adamw) after the derivation; a model trained with one shows its own")
    p.set_defaults(func=_cmd_report)

    p = _command(sub, "export", "export as a NumPy module, C99 with a test harness, or a web page")
    define_option(p)
    p.add_argument("target", metavar="SPEC|MODEL.json", help="a spec (weights are parameters) or a trained model")
    p.add_argument("--to", required=True, choices=["numpy", "c", "js", "jax", "torch"],
                   help="numpy (one module), c (C99 with a test harness), js (a web page; needs a model), "
                        "jax (a custom_vjp function, loss_and_grads, sgd_step) or torch (an nn.Module named Model "
                        "whose backward is the derived one)")
    p.add_argument("--out", default=".", metavar="DIR", help="folder to write into (default .)")
    p.add_argument("--name", default="network", help="base name of the files and C symbols (default network)")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"],
                   help="floating-point type of the C and NumPy code (default float64)")
    p.add_argument("--optimizer", metavar="NAME", help="also the whole step of this optimizer (sgd, momentum, "
                   "nesterov, rmsprop, adam, adamw): optimizer_step and init_state (numpy, jax, torch), "
                   "NAME_optimizer_step and NAME_state (c)")
    p.set_defaults(func=_cmd_export)

    p = _command(sub, "demo", "the reference derivation, then train and use the textbook network")
    p.add_argument("--data", metavar="PATH", help="train on this CSV (e.g. the textbook's) instead")
    p.add_argument("--seed", type=int, default=1, help="seed for the data split, initialisation and order (default 1)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv``; returns the exit code (errors print one line to stderr)."""
    parser = build_parser()
    previous = signal.signal(signal.SIGTERM, _terminate) if _main_thread() else None
    stdout, sys.stdout = sys.stdout, Escaping(sys.stdout)
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        for text in getattr(args, "define", []):
            define(text)
        if getattr(args, "seed", None) is not None and args.seed < 0:
            raise SymbackpropError(f"--seed must be a whole number of at least 0, not {args.seed}")
        return args.func(args)
    except Terminated:
        print("symbackprop: terminated; nothing was written", file=sys.stderr)
        return 143
    except SymbackpropError as err:
        message = " ".join(str(err).split("\n"))  # always one line
        print(f"symbackprop: error: {escape(message)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("symbackprop: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head
        return 0
    finally:
        sys.stdout = stdout
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate(signum, frame):
    raise Terminated


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
