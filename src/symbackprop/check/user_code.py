"""Running a user's code: importing FILE.py:FUNC, calling it guarded (stdout, sys.exit, a timeout), reading what
it returns as numbers, and naming its own failing line."""

from __future__ import annotations

import contextlib
import importlib.util
import math
import signal
import sys
import threading
import traceback
from pathlib import Path

import numpy as np

from ..errors import Terminated, UserCodeError
from ..fileio import existing_file


def load_user_module(target: str, timeout: float | None = 60.0):
    """``FILE.py:NAME`` -> (the imported module, its path, NAME); a failing import is one line at the user's own
    location."""
    path_text, sep, func = target.rpartition(":")
    if not sep or not path_text or not func:
        raise UserCodeError(f"'{target}': expected FILE.py:FUNCTION or FILE.py:Class.method, e.g. "
                            "examples/textbook_backprop.py:backprop")
    path = existing_file(path_text, "file", UserCodeError)
    name = f"symbackprop_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserCodeError(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    try:
        with guarded(path, timeout, f"importing {path}"):
            spec.loader.exec_module(module)
    except SyntaxError as err:
        raise UserCodeError(f"{err.filename}:{err.lineno}: SyntaxError: {err.msg}") from None
    except (UserCodeError, KeyboardInterrupt, Terminated):
        raise
    except BaseException as err:  # noqa: BLE001 - the user's code may raise anything, GeneratorExit too
        raise UserCodeError(f"importing {path} failed: {user_error(err, path)}") from None
    return module, path, func


def _own(module) -> list[str]:
    return sorted(n for n, v in vars(module).items() if callable(v) and getattr(v, "__module__", "") ==
                  module.__name__)


def load_user_function(target: str, timeout: float | None = 60.0):
    """``FILE.py:FUNC`` -> the function and the file's path."""
    module, path, func = load_user_module(target, timeout)
    return user_function(module, path, func), path


def user_function(module, path, name: str):
    """The function ``name`` of the module; one line naming what the module has when it is not there."""
    fn = getattr(module, name, None)
    if not callable(fn) or isinstance(fn, type):
        names = _own(module)
        raise UserCodeError(f"{path} has no function '{name}'" + (f" (it has: {', '.join(names)})" if names else ""))
    return fn


def user_class(module, path, name: str):
    """``Class.method`` in the module -> (the class, the method's name); one line when either is not there."""
    cls_name, _, method = name.partition(".")
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type):
        names = _own(module)
        raise UserCodeError(f"{path} has no class '{cls_name}'" + (f" (it has: {', '.join(names)})" if names else ""))
    if not callable(getattr(cls, method, None)):
        methods = sorted(n for n, v in vars(cls).items() if callable(v) and not n.startswith("__"))
        raise UserCodeError(f"{path}: class {cls_name} has no method '{method}'"
                            + (f" (it has: {', '.join(methods)})" if methods else ""))
    return cls, method


class _Shaped:
    """A much larger array than expected, kept only as its shape: it is never converted (it may be huge)."""

    def __init__(self, shape):
        self.shape = tuple(shape)


def numbers(value, shape=None) -> np.ndarray | str | _Shaped:
    """``value`` as a float array, or what is wrong with it (complex, not numbers); an array of another shape
    than ``shape`` and far larger is not converted at all (a transposed one is, to name the mistake)."""
    found = getattr(value, "shape", None)
    if shape is not None and isinstance(found, tuple) and found != tuple(shape) and \
            math.prod(found) > max(10 * math.prod(shape), 10_000):
        return _Shaped(found)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        return f"is not an array of numbers ({type(value).__name__})"
    if arr.dtype.kind == "c":
        return "has complex values"
    if arr.dtype.kind not in "biuf":
        return f"is not an array of numbers ({type(value).__name__})"
    return arr.astype(float)


class _TimedOut(BaseException):
    """The user's function ran past ``--timeout`` (a BaseException, so their own ``except Exception`` lets it by)."""


@contextlib.contextmanager
def guarded(path: Path | None, timeout: float | None, what: str):
    """Run the user's code: what it prints goes to stderr, ``sys.exit`` and running past ``timeout`` seconds are
    failures of the call (``UserCodeError``, one line with the user's file and line)."""
    use_alarm = timeout and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()

    def expire(*_):
        raise _TimedOut

    old = signal.signal(signal.SIGALRM, expire) if use_alarm else None
    if use_alarm:
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    except _TimedOut:
        raise UserCodeError(f"{what} took longer than {timeout:g} s (--timeout)") from None
    except SystemExit as err:
        raise UserCodeError(f"{user_error(err, path)}: {what} called sys.exit({err.code!r}); "
                            "symbackprop does not let your code choose its exit code") from None
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def attempt(path: Path | None, timeout: float | None, what: str, fn, *args) -> tuple:
    """``fn(*args)``, the user's code, guarded: (what it returned, None), or (None, the error it raised); our own
    interrupts and the guard's failures (a timeout, sys.exit) pass through."""
    try:
        with guarded(path, timeout, what):
            return fn(*args), None
    except (UserCodeError, KeyboardInterrupt, Terminated):
        raise
    except BaseException as err:  # noqa: BLE001 - the user's code may raise anything, GeneratorExit too
        return None, err


def user_error(err: BaseException, path: Path | None) -> str:
    """``FILE:LINE in FUNC: ExcType: message`` at the deepest frame in the user's file."""
    frames = traceback.extract_tb(err.__traceback__)
    mine = [fr for fr in frames if path is not None and Path(fr.filename).resolve() == path.resolve()]
    if not mine and path is not None:  # it never ran (a call that does not fit its signature): name their file
        loc = f"{path}: "
    else:
        where = mine[-1] if mine else (frames[-1] if frames else None)
        loc = f"{where.filename}:{where.lineno} in {where.name}: " if where else ""
    msg = str(err).splitlines()[0] if str(err) else ""
    return f"{loc}{type(err).__name__}: {msg}".rstrip(": ")


def reach(err: BaseException, path: Path | None) -> tuple[int, int]:
    """How far into the user's code an error came: (frames in their file, the deepest one's line)."""
    mine = [fr for fr in traceback.extract_tb(err.__traceback__)
            if path is not None and Path(fr.filename).resolve() == path.resolve()]
    return len(mine), (mine[-1].lineno or 0) if mine else 0
