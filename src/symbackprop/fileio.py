"""Safe file writing: every output is written to a temporary file beside it, then renamed."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import SymbackpropError


def existing_file(path: str | os.PathLike, what: str, error: type[SymbackpropError] = SymbackpropError) -> Path:
    """``path`` as a Path when it is a file; otherwise ``error`` saying it is missing or a folder."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such {what}")
    if not path.is_file():
        raise error(f"{path}: is a folder, not a {what}" if path.is_dir() else f"{path}: is not a {what}")
    return path


@contextlib.contextmanager
def atomic_paths(paths):
    """Yield temporary paths, one per target; only when the body succeeds do they all replace their targets."""
    with contextlib.ExitStack() as stack:
        temps = [stack.enter_context(_temporary(p)) for p in paths]
        yield [t for t, _ in temps]
        for tmp, target in temps:
            os.replace(tmp, target)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path in the target's folder; on success it replaces ``path`` at once.

    If the body fails (or is interrupted) the temporary file is removed and ``path`` is untouched.
    A symbolic link is written through (its target is replaced); anything else that is not a regular
    file (a FIFO, a device) is refused.
    """
    with _temporary(path) as (tmp, target):
        yield tmp
        os.replace(tmp, target)


@contextlib.contextmanager
def _temporary(path: str | os.PathLike):
    """A temporary file beside ``path`` (resolved) as ``(tmp, target)``; removed if the body fails."""
    given = Path(path)
    target = given.resolve() if given.is_symlink() else given  # a link is written through, to its target
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise SymbackpropError(f"{given}: the folder {folder} does not exist")
    if target.is_dir():
        raise SymbackpropError(f"{given}: is a folder, not a file")
    if target.exists() and not target.is_file():  # a FIFO, a device, a socket: never replaced
        raise SymbackpropError(f"{given}: is not a regular file; symbackprop writes only regular files")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise SymbackpropError(f"{given}: cannot write in {folder} ({err.strerror})") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~umask)  # as open() would
    try:
        yield Path(tmp), target
    finally:  # after a successful replace there is nothing left to remove
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def writable(path: str | os.PathLike, option: str) -> None:
    """Fail now, in one line naming ``option``, if ``path`` could not be written later (before long work)."""
    try:
        with _temporary(path):
            pass
    except SymbackpropError as err:
        raise SymbackpropError(f"{option} {err}") from None


def _write(tmp: Path, data: str | bytes, path) -> None:
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
    except OSError as err:
        raise SymbackpropError(f"{path}: cannot write ({err.strerror})") from None


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically (text as UTF-8)."""
    with atomic_path(path) as tmp:
        _write(tmp, data, path)


def atomic_write_all(files: dict) -> None:
    """Write several files all or none: each to a temporary first, moved into place only when all are written."""
    with atomic_paths(list(files)) as temps:
        for tmp, (path, data) in zip(temps, files.items()):
            _write(tmp, data, path)
