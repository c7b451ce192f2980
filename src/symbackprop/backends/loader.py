"""Turning generated source into modules: registered for tracebacks, cached in memory and on disk.

The disk cache never runs code it cannot prove it wrote: a file is named by the hash of its source,
the generator's own code and the SymPy/numba versions, and it is imported only when its bytes are
exactly the source just generated; anything else (altered, truncated, foreign) is written anew.  An
unusable cache folder means running from memory, with one warning.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import linecache
import os
import sys
import tempfile
import types
from functools import cache
from pathlib import Path

from .. import __version__

_MEMORY: dict[str, types.ModuleType] = {}
_WARNED: set[str] = set()


def cache_dir() -> Path:
    """Where compiled per-sample loops live: ``$SYMBACKPROP_CACHE_DIR`` or ``~/.cache/symbackprop``."""
    env = os.environ.get("SYMBACKPROP_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "symbackprop"
    return base / f"v{__version__}"


@cache
def generator_fingerprint() -> str:
    """A hash of the package's own code and the versions of SymPy and numba."""
    h = hashlib.sha256(__version__.encode())
    root = Path(__file__).resolve().parents[1]
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    for dist in ("sympy", "numba"):
        try:
            h.update(f"{dist}={importlib.metadata.version(dist)}".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{dist}=none".encode())
    return h.hexdigest()


def key(source: str) -> str:
    """The cache key of a generated source: its hash with the generator's fingerprint."""
    return hashlib.sha256((generator_fingerprint() + "\0" + source).encode()).hexdigest()[:24]


def _register(name: str, filename: str, source: str, module: types.ModuleType) -> types.ModuleType:
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module.__file__ = filename
    module.__source__ = source
    sys.modules[name] = module
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - source we generated just now
    _MEMORY[name] = module
    return module


def from_source(source: str, prefix: str = "symbackprop_generated") -> types.ModuleType:
    """Execute our generated ``source`` as a module (memory only); its lines show in tracebacks."""
    name = f"{prefix}_{key(source)}"
    if name in _MEMORY:
        return _MEMORY[name]
    return _register(name, f"<symbackprop-generated {name}>", source, types.ModuleType(name))


def on_disk(source: str, memory_source: str | None = None) -> types.ModuleType:
    """Import ``source`` from the disk cache (written now if absent or not byte-identical), so that numba can
    cache its compiled code beside it; from memory (``memory_source``) when the folder is unusable."""
    name = f"symbackprop_generated_{key(source)}"
    if name in _MEMORY:
        return _MEMORY[name]
    folder = cache_dir()
    path = folder / f"sbp_{key(source)}.py"
    data = source.encode()
    try:
        current = path.read_bytes() if path.is_file() else None
        if current != data:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sbp_", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    except OSError as err:
        where = str(folder)
        if where not in _WARNED:
            _WARNED.add(where)
            print(f"symbackprop: cannot use the code cache {where} ({err.strerror or err}); "
                  "compiling without a disk cache", file=sys.stderr)
        return from_source(memory_source or source)
    module = types.ModuleType(name)
    return _register(name, str(path), source, module)
