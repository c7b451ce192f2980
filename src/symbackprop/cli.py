"""The ``symbackprop`` command: parses arguments, calls the library, prints; nothing else."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .errors import SymbackpropError

REFERENCE_SPEC = "1-1:relu-1:logistic"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is our one-line error with exit code 2."""

    def error(self, message):
        raise SymbackpropError(f"{self.prog}: {message}")


def _cmd_derive(args) -> int:
    from .derive import derive

    d = derive(args.spec, args.cost)
    if args.format == "json":
        print(json.dumps(d.to_json(expanded=args.expanded), indent=2))
    elif args.format == "latex":
        print(d.to_latex(entries=args.entries, expanded=args.expanded))
    elif args.format == "markdown":
        print(d.to_markdown(entries=args.entries, expanded=args.expanded), end="")
    else:
        print(d.to_text(entries=args.entries, expanded=args.expanded))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symbackprop", description=__doc__.split(":")[0] if __doc__ else None)
    parser.description = "Derive, show, prove and use the backpropagation of a feed-forward network."
    parser.add_argument("--version", action="version", version=f"symbackprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("derive", help="derive every local derivative and the chain rule")
    p.add_argument("spec", nargs="?", default=REFERENCE_SPEC,
                   help=f"network spec INPUTS-WIDTH:ACT-... (default {REFERENCE_SPEC}, the reference)")
    p.add_argument("--cost", default="squared_error", help="squared_error, binary_cross_entropy, cross_entropy")
    p.add_argument("--format", choices=["text", "latex", "markdown", "json"], default="text")
    p.add_argument("--entries", action="store_true", help="also the per-entry form")
    p.add_argument("--expanded", action="store_true", help="also the fully expanded form (small networks)")
    p.set_defaults(func=_cmd_derive)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv``; returns the exit code (errors print one line to stderr)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return args.func(args)
    except SymbackpropError as err:
        print(f"symbackprop: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("symbackprop: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head
        return 0
