"""Turning generated source into modules: registered for tracebacks, cached in memory and on disk.

The disk cache never runs code it cannot prove it wrote: a file is named by the hash of its source,
the generator's own code and the SymPy/numba versions, and it is imported only when its bytes are
exactly the source just generated; anything else (altered, truncated, foreign) is written anew.  numba's
own cache files beside it (pickles) are loaded only when their digests are those recorded when numba wrote
them in this user's runs (``sbp_KEY.numba.json``); any other file of the module's is removed before numba
can read it.  A cache folder that another user owns or could write, or that cannot be used, means running
from memory, with one warning.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.metadata
import json
import linecache
import os
import stat
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


class UntrustedCache(OSError):
    """A cache folder another user owns or could write into."""


def _private(folder: Path) -> None:
    """Raise :class:`UntrustedCache` unless ``folder`` (when it exists) is this user's and only theirs to write."""
    try:
        info = folder.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UntrustedCache(f"{folder} is not a folder")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise UntrustedCache(f"{folder} belongs to another user")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UntrustedCache(f"{folder} can be written by other users")


def _warn(where, err: OSError) -> None:
    if str(where) not in _WARNED:
        _WARNED.add(str(where))
        reason = str(err) if isinstance(err, UntrustedCache) else (err.strerror or str(err))
        print(f"symbackprop: cannot use the code cache {where} ({reason}); compiling without a disk cache",
              file=sys.stderr)


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a private temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sbp_", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
        for level in (folder.parent, folder):
            _private(level)
            level.mkdir(mode=0o700, exist_ok=True, parents=level is folder.parent)
            _private(level)
        current = path.read_bytes() if path.is_file() else None
        if current != data:
            _write(path, data)
        module = _register(name, str(path), source, types.ModuleType(name))
        module.__cached_build__ = _verify_numba_files(module, path)
    except OSError as err:
        _MEMORY.pop(name, None)
        sys.modules.pop(name, None)
        _warn(folder, err)
        return from_source(memory_source or source)
    _SEAL.append((module, path))
    return module


# -- numba's cache files: bound to the digests recorded when numba wrote them ---------------------------
_SEAL: list = []  # (module, path) of the disk modules of this process, sealed at exit


def _numba_caches(module) -> list:
    """The numba function caches of a module's compiled functions (none without numba or caching)."""
    return [fn._cache for fn in vars(module).values()
            if type(getattr(fn, "_cache", None)).__name__ == "FunctionCache"]


def _numba_files(module) -> dict[str, Path]:
    """numba's files for this module's functions: index (``.nbi``) and data (``.nbc``) files, by name."""
    out = {}
    for fcache in _numba_caches(module):
        base = getattr(getattr(fcache, "_impl", None), "filename_base", None)
        if not isinstance(base, str):  # a numba whose cache we cannot see into: trust none of it
            raise UntrustedCache("this numba's cache files cannot be verified")
        folder = Path(fcache.cache_path)
        if folder.is_dir():
            out.update({p.name: p for p in folder.iterdir() if p.name.startswith(base + ".")})
    return out


def _manifest(path: Path) -> Path:
    return path.with_name(path.stem + ".numba.json")


def _digest(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def _verify_numba_files(module, path: Path) -> bool:
    """Remove every numba file of the module that is not exactly one recorded in its manifest (so numba never
    unpickles a file it did not write for us); True when verified compiled code remains."""
    caches = _numba_caches(module)
    for fcache in caches:
        _private(Path(fcache.cache_path))
    try:
        recorded = json.loads(_manifest(path).read_text())
    except (OSError, ValueError):
        recorded = {}
    kept = 0
    for file_name, file in _numba_files(module).items():
        if isinstance(recorded, dict) and recorded.get(file_name) == _digest(file):
            kept += 1
        else:
            file.unlink()
    return kept > 0


def seal(module=None) -> None:
    """Record the digests of numba's files for ``module`` (default: every disk module of this process), as numba
    has just written them, so that the next run may load them."""
    for mod, path in _SEAL:
        if module is not None and mod is not module:
            continue
        try:
            files = {name: _digest(file) for name, file in _numba_files(mod).items()}
            if files:
                _write(_manifest(path), json.dumps(files, sort_keys=True).encode())
        except OSError:
            pass  # unsealed files are removed and compiled anew next time


atexit.register(seal)
