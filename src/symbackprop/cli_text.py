"""The command line's language-model side: train on a text, evaluate on one, sample lines (parse, call, print)."""

from __future__ import annotations

import json

from .errors import SymbackpropError
from .terminal import counted

# options of CSV training that a text's training does not take (its inputs are characters, its target the next)
CSV_ONLY = ("target", "cost", "scale", "standardize", "per_sample", "iterations", "resume", "plot", "l2",
            "early_stopping", "val_size", "step_size", "gamma", "warmup", "clip_norm", "lr_schedule")


def is_text(args) -> bool:
    """Whether ``train``'s data is a text (``--text``, or a ``.txt`` file)."""
    return bool(getattr(args, "text", False)) or str(args.data).endswith(".txt")


def train(args) -> int:
    from .fileio import writable
    from .language import train_text

    given = [name for name in CSV_ONLY if getattr(args, name, None) not in (None, False)]
    if given:
        raise SymbackpropError(f"--{given[0].replace('_', '-')} is for training on a CSV, not on a text")
    if args.backend not in (None, "numpy", "jax", "torch"):
        raise SymbackpropError(f"a language model trains on the numpy, jax or torch backend, not {args.backend}")
    if args.test and args.test_size is not None:
        raise SymbackpropError("--test FILE and --test-size: give one (a file to test on, or a share to hold out)")
    if args.out:
        writable(args.out, "--out")
    model = train_text(args.data, args.net, block=args.block, epochs=args.epochs, batch_size=args.batch_size,
                       lr=args.lr, optimizer=args.optimizer, seed=0 if args.seed is None else args.seed,
                       test_size=args.test_size, test=args.test, backend=args.backend or "numpy",
                       stream=args.stream)
    m = model.metrics
    unit = "characters" if args.stream else "lines"
    print(f"trained {model.spec} on {m['train_' + unit]:,} {unit} of {args.data}"
          + (f", tested on {m['test_' + unit]:,}" + (f" {unit} of {args.test}" if args.test else "")
             if m["test_" + unit] else "")
          + f": mini-batch {m['optimizer']}, batch size {m['batch_size']}, {counted(m['epochs'], 'epoch')}, "
          f"learning rate {m['lr']:g}, {m['backend']}" + ("" if args.net else " (the default transformer)"))
    print(f"train cross-entropy: {m['train_cross_entropy']:.4f} nats per token")
    if "test_cross_entropy" in m:
        print(f"test cross-entropy: {m['test_cross_entropy']:.4f} nats per token "
              f"(a bigram count model, add-one smoothing, fitted on the same {'text' if args.stream else 'lines'}: "
              f"{m['bigram_test_cross_entropy']:.4f})")
    if args.out:
        model.save(args.out)
        print(f"wrote {args.out}")
    return 0


def evaluate(args) -> int:
    from .language import load_language_model

    model = load_language_model(args.model)
    value = model.cross_entropy(model.read(args.data))
    if args.format == "json":
        print(json.dumps({"cross_entropy": value}))
    else:
        print(f"cross-entropy of {args.model} on {args.data}: {value:.4f} nats per token")
    return 0


def sample(args) -> int:
    from .language import load_language_model

    model = load_language_model(args.model)
    for line in model.sample(args.n, seed=args.seed, temperature=args.temperature, start=args.start):
        print(line)
    return 0


def sample_parser(sub, command) -> None:
    """The ``sample`` subcommand."""
    p = command(sub, "sample", "lines drawn from a trained language model")
    p.add_argument("model", help="MODEL.json written by train TEXT.txt --out")
    p.add_argument("-n", type=int, default=10, help="how many lines (default 10)")
    p.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    p.add_argument("--start", default="", metavar="TEXT",
                   help="each line begins with TEXT, which the model reads first (default: nothing)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="below 1 sharper, above 1 flatter than the model's distribution (default 1)")
    p.set_defaults(func=sample)
