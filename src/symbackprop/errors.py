"""The exceptions symbackprop raises for a user's mistakes, each carrying its exit code."""

from __future__ import annotations

import difflib


class SymbackpropError(Exception):
    """A user-facing error: one line that names the file, row, column or option at fault."""

    exit_code = 2


class SpecError(SymbackpropError, ValueError):
    """A network spec, activation or cost that cannot be used."""


class DataError(SymbackpropError, ValueError):
    """A CSV file or array that cannot be trained on or predicted from."""


class ModelFileError(SymbackpropError, ValueError):
    """A model file that is missing, malformed or does not match its spec."""


class UserCodeError(SymbackpropError):
    """The user's own backprop file or function failed."""


class DivergedError(SymbackpropError, FloatingPointError):
    """Training produced a non-finite loss or parameter."""

    exit_code = 3


def did_you_mean(word: str, choices) -> str:
    """``"; did you mean 'relu'?"`` when a choice is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


class Terminated(BaseException):
    """SIGTERM: unwinds like Ctrl-C, so every half-written temporary file is removed."""
