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
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path in the target's folder; on success it replaces ``path`` at once.

    If the body fails (or is interrupted) the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise SymbackpropError(f"{target}: the folder {folder} does not exist")
    if target.is_dir():
        raise SymbackpropError(f"{target}: is a folder, not a file")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~umask)  # as open() would
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` to ``path`` atomically (text as UTF-8)."""
    with atomic_path(path) as tmp:
        try:
            if isinstance(data, bytes):
                tmp.write_bytes(data)
            else:
                tmp.write_text(data, encoding="utf-8")
        except OSError as err:
            raise SymbackpropError(f"{path}: cannot write ({err.strerror})") from None
