"""Running a user's code in a forked child: its exit, crash or appetite for memory cannot choose our verdict."""

from __future__ import annotations

import io
import os
import pickle
import signal
import sys
import traceback
import warnings

from .errors import SymbackpropError, UserCodeError
from .resources import physical_memory


def memory_limit() -> int | None:
    """The address space a checked function may use: half of this machine's memory."""
    total = physical_memory()
    return total // 2 if total else None


def _limit_memory(limit: int | None) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    if limit:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _outcome(work, limit):
    """What the child sends back: ``("ok", value)`` or ``("error", message, exit_code)``."""
    try:
        _limit_memory(limit)
        return ("ok", work())
    except SymbackpropError as err:
        return ("error", str(err), err.exit_code)
    except MemoryError:
        return ("error", f"your code needed more memory than a checked function may use "
                         f"({limit / 2**30:,.1f} GiB, half of this machine's)" if limit else
                         "your code ran out of memory", 2)
    except Exception:  # noqa: BLE001 - symbackprop's own bug in the child: its traceback goes to the parent
        return ("bug", traceback.format_exc())


def _in_memory(stream) -> bool:
    """True for a stream with no file descriptor (pytest's capture, a notebook): the child's writes to it would be
    lost, so they are sent back and written here."""
    try:
        stream.fileno()
        return False
    except (AttributeError, OSError, ValueError):
        return True


def _child(work, limit, write: int) -> None:
    """The child's side: run ``work``, send its outcome (and what it wrote to in-memory streams) through the pipe."""
    names = [name for name in ("stdout", "stderr") if _in_memory(getattr(sys, name))]
    for name in names:
        setattr(sys, name, io.StringIO())
    outcome = _outcome(work, limit)
    written = {name: getattr(sys, name).getvalue() for name in names}
    data = pickle.dumps((outcome, written))
    with os.fdopen(write, "wb") as pipe:
        pipe.write(data)
    sys.stdout.flush()
    sys.stderr.flush()


def in_child(work, what: str = "your code"):
    """``work()`` in a forked child process under :func:`memory_limit`; its value is returned, its
    :class:`SymbackpropError` raised here.  A child that ends without answering (``os._exit``, a signal, a crash
    in C) is one line naming how it ended.  Where there is no ``fork``, ``work()`` runs here."""
    if not hasattr(os, "fork"):  # pragma: no cover - Windows
        return work()
    limit = memory_limit()
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    with warnings.catch_warnings():  # JAX, when a caller imported it, warns at any fork; the child does not use it
        warnings.simplefilter("ignore", RuntimeWarning)
        pid = os.fork()
    if pid == 0:  # the child: run, answer through the pipe, and leave without running the parent's exit handlers
        os.close(read)
        try:
            _child(work, limit, write)
        finally:
            os._exit(0)
    os.close(write)
    try:
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
    except BaseException:  # Ctrl-C or SIGTERM here: the child goes too
        _end(pid)
        raise
    if not data:
        raise UserCodeError(f"{what} ended the checking process {_how(status)} before check could answer; "
                            "nothing was checked")
    outcome, written = pickle.loads(data)  # noqa: S301 - written by our own child just now, through our own pipe
    for name, text in written.items():
        getattr(sys, name).write(text)
    if outcome[0] == "error":
        raise UserCodeError(outcome[1]) if outcome[2] == 2 else SymbackpropError(outcome[1])
    if outcome[0] == "bug":  # never blamed on the user's code: shown whole, as symbackprop's own
        raise RuntimeError(f"symbackprop failed while checking {what}; its traceback in the checking process:\n"
                           f"{outcome[1]}")
    return outcome[1]


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"(killed by {name})"
    return f"(os._exit({os.WEXITSTATUS(status)}))"


def _end(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass
