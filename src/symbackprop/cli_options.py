"""The command line's shared options: how each is spelled, what its help says, and how it becomes an object."""

from __future__ import annotations

import argparse

COSTS_HELP = ("squared_error, half_squared_error, binary_cross_entropy, cross_entropy or multiclass_hinge (or one "
              "you --define); "
              "default cross_entropy "
              "for a softmax output, squared_error otherwise")


def l2_option(p) -> None:
    p.add_argument("--l2", type=float, default=None, metavar="LAMBDA",
                   help="weight decay: add LAMBDA·Σ‖W‖² to the batch cost (biases and norm parameters are not "
                        "penalised); the derivation shows 2·LAMBDA·W in each weight gradient")


def header_option(p, then: str) -> None:
    p.add_argument("--no-header", dest="header", action="store_false",
                   help=f"the CSV file has no header row: {then} (its separator, comma, semicolon, tab or bar, is "
                        "found from the first line either way)")


def define_option(p) -> None:
    p.add_argument("--define", action="append", default=[], metavar="'NAME(z) = EXPR'",
                   help="define an activation (one variable) or a cost (two: a, y); repeatable")


def train_options(p) -> None:
    p.add_argument("--cost", default=None, help=COSTS_HELP)
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--scale", type=float, metavar="K", help="divide every feature by K (e.g. 255)")
    scale.add_argument("--standardize", action="store_true", help="use the train split's mean and std")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--per-sample", action="store_true", help="per-sample SGD (the textbook's; default)")
    how.add_argument("--batch-size", type=int, metavar="N", help="mini-batch SGD with batches of N")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--iterations", type=int, metavar="N", help="per-sample steps (default 100000)")
    length.add_argument("--epochs", type=int, metavar="N", help="passes over the data (default 100)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default the optimizer's: 0.05 for sgd, momentum and nesterov, 0.01 for "
                        "rmsprop, 0.001 for adam and adamw)")
    p.add_argument("--optimizer", default=None, metavar="NAME",
                   help="sgd (default), momentum, nesterov, rmsprop, adam or adamw: the update after each step's "
                        "derived gradients (derive --optimizer NAME shows its equations)")
    p.add_argument("--momentum", type=float, metavar="MU", help="momentum and nesterov's (default 0.9)")
    p.add_argument("--betas", type=pair, metavar="B1,B2", help="adam and adamw's (default 0.9,0.999)")
    p.add_argument("--eps", type=float, metavar="E", help="adam, adamw and rmsprop's (default 1e-8)")
    p.add_argument("--alpha", type=float, metavar="A", help="rmsprop's smoothing (default 0.99)")
    p.add_argument("--lr-schedule", metavar="KIND", help="constant (default), step (× --gamma, 0.1, every "
                   "--step-size epochs, 30) or cosine (to 0 over the training), per step as PyTorch's schedulers")
    p.add_argument("--step-size", type=int, metavar="EPOCHS", help="the step schedule's period in epochs (default 30)")
    p.add_argument("--gamma", type=float, metavar="G", help="the step schedule's factor (default 0.1)")
    p.add_argument("--warmup", type=int, metavar="STEPS", help="the learning rate rises linearly over these steps")
    p.add_argument("--clip-norm", type=float, metavar="X",
                   help="scale the gradients of all parameters together to this norm at most")
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help="stop when the loss on the validation split has not improved for PATIENCE epochs, keeping "
                        "the best epoch's weights (needs --val-size)")
    p.add_argument("--val-size", type=float, metavar="F",
                   help="share of the training rows held out as the validation split of --early-stopping")
    p.add_argument("--weight-decay", type=float, metavar="L",
                   help="adamw's decoupled decay of the weights (default 0.01); --l2 is the penalty in the cost")
    p.add_argument("--seed", type=int, default=None, help="seed for the split, initialisation and order (default 1)")
    p.add_argument("--test-size", type=float, default=None,
                   help="share of rows held out for testing (default 1/3; 0 trains on every row)")
    p.add_argument("--test", metavar="FILE", help="test on this CSV (the same columns) instead of holding out rows")
    p.add_argument("--backend", default=None, metavar="NAME",
                   help="numba (per-sample; its default), numpy (mini-batch default), jax or torch (mini-batch: "
                        "JAX on every local device, PyTorch on CUDA when present)")
    p.add_argument("--no-target-scaling", dest="target_scaling", action="store_false",
                   help="train an identity (regression) output on the raw targets, not standardised ones")
    l2_option(p)
    p.add_argument("--dtype", default=None, choices=("float32", "float64"),
                   help="floating-point type of mini-batch training (default float64)")


def pair(text: str) -> tuple[float, float]:
    """``0.9,0.999`` as two numbers (argparse reports a bad one as the option's error)."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"two numbers separated by a comma, e.g. 0.9,0.999, not {text!r}")
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"two numbers separated by a comma, e.g. 0.9,0.999, not {text!r}") from None


def optimizer_of(args):
    """The --optimizer with its --momentum, --betas, --eps, --alpha and --weight-decay."""
    from .optimizers import get_optimizer

    return get_optimizer(args.optimizer).with_values(momentum=args.momentum, betas=args.betas, eps=args.eps,
                                                     alpha=args.alpha, weight_decay=args.weight_decay)


# what a resumed run takes from its model file: the command line may not give these again
RESUMED = ("net", "cost", "scale", "standardize", "per_sample", "batch_size", "iterations", "lr", "optimizer",
           "momentum", "betas", "eps", "alpha", "lr_schedule", "step_size", "gamma", "warmup", "clip_norm",
           "early_stopping", "val_size", "weight_decay", "seed", "test_size", "l2", "dtype", "define")


def resume_args(args) -> None:
    """With ``--resume MODEL.json``: the run's options filled in from the model file (``args.resumed``: the
    model); one line naming an option given again or a missing --test."""
    from . import checkpoint
    from .errors import SymbackpropError
    from .model import load

    given = [name for name in RESUMED if getattr(args, name) not in (None, False, [])]
    if not args.target_scaling:
        given.append("no_target_scaling")
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise SymbackpropError(f"--resume continues {args.resume} with the options it was trained with: leave out "
                               f"{flag}")
    model = load(args.resume)
    saved = checkpoint.of(model, args.resume)
    if saved.options["tested_on_file"] and not args.test:
        raise SymbackpropError(f"{args.resume} was tested on a file of its own: give --test FILE again")
    if args.test and not saved.options["tested_on_file"]:
        raise SymbackpropError(f"{args.resume} held out a share of its data for testing: leave out --test")
    opts = saved.options
    args.net, args.cost, args.l2 = model.network.spec, model.network.cost.name, model.network.l2 or None
    args.scale, args.standardize, args.target_scaling = opts["scale"], opts["standardize"], opts["target_scaling"]
    args.seed, args.test_size, args.dtype = opts["seed"], opts["test_size"], opts["dtype"]
    args.target = args.target or model.target_name
    args.resumed = model


def check_options(p) -> None:
    """The ``check`` command's arguments: a network's backprop as written, or one layer's (``--layer``)."""
    p.add_argument("spec", help="network spec, e.g. 3-3:relu-1:logistic (with --layer: FILE.py:FUNC)")
    p.add_argument("function", metavar="FILE.py:FUNC", nargs="?",
                   help="your backprop as written: FUNC or Class.method, its arguments filled by name (X/x, y/Y, "
                        "params/parameters, cache from the module's forward, reg/lambd), returning gradients as a "
                        "dict, (loss, grads) or per-sample (nabla_b, nabla_w)")
    p.add_argument("--reg", type=float, default=None, metavar="R",
                   help="the L2 strength your code takes (reg, lambd, or its class's reg); the convention "
                        "(½·R·ΣW², R·ΣW², λ/(2m)·ΣW²) is told from what it returns")
    p.add_argument("--layer", metavar="KIND", default=None,
                   help="check one layer's backward function FUNC(dout, cache), its cache made by the module's "
                        "matching *_forward: affine, relu, sigmoid, tanh, gelu, gelu_tanh, batchnorm, layernorm, "
                        "dropout, softmax_loss or svm_loss (FUNC(x, y) -> (loss, dx)), conv, max_pool, "
                        "word_embedding, rnn_step, lstm_step (FUNC(dnext_h, dnext_c, cache)), attention, rnn, lstm, "
                        "temporal_affine, temporal_softmax_loss (FUNC(x, y, mask) -> (loss, dx))")
    p.add_argument("--sizes", metavar="N=3,D=5", default=None,
                   help="with --layer: sizes to use instead of small random ones (N samples, D and M features; "
                        "images C, H, F, K, S, P; sequences T positions, V tokens)")
    p.add_argument("--forward", metavar="NAME", default=None,
                   help="the module's forward function that makes the cache your function takes (default: "
                        "forward, forward_propagation, L_model_forward or *_forward)")
    p.add_argument("--cost", default=None, help=COSTS_HELP)
    p.add_argument("--trials", type=int, default=5, help="random draws, each with 1 sample and a batch (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draws (default 0)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="seconds each call of your code may take (default 60); what it prints goes to stderr")
    p.add_argument("--layout", choices=("auto", "rows", "columns"), default="auto",
                   help="rows: X is (N, D), W (in, out), 1-D biases b1, integer labels, the cost summed or "
                        "averaged (most courses); columns: symbackprop's; auto (default): whichever your code runs")
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--mean", dest="scale", action="store_const", const="mean", default="auto",
                       help="your cost is the mean over the samples (what a function returning no cost cannot say)")
    scale.add_argument("--sum", dest="scale", action="store_const", const="sum",
                       help="your cost is the sum over the samples: gradients are divided by m to compare")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
