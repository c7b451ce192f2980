"""Turning generated source into modules: registered for tracebacks, cached in memory and on disk."""

from __future__ import annotations

import hashlib
import importlib.util
import linecache
import os
import sys
import types
from pathlib import Path

from .. import __version__

_MEMORY: dict[str, types.ModuleType] = {}


def cache_dir() -> Path:
    """Where compiled per-sample loops live: ``$SYMBACKPROP_CACHE_DIR`` or ``~/.cache/symbackprop``."""
    env = os.environ.get("SYMBACKPROP_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "symbackprop"
    return base / f"v{__version__}"


def key(*parts: str) -> str:
    """A short hash of the parts and the package version."""
    return hashlib.sha256("|".join((__version__, *parts)).encode()).hexdigest()[:16]


def cached(name: str) -> types.ModuleType | None:
    """A module generated earlier in this process, or ``None``."""
    return _MEMORY.get(name)


def from_source(source: str, name: str) -> types.ModuleType:
    """Execute ``source`` as module ``name``; its lines are registered so tracebacks show them."""
    if name in _MEMORY:
        return _MEMORY[name]
    filename = f"<symbackprop-generated {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    module.__source__ = source
    sys.modules[name] = module
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - our own generated code
    _MEMORY[name] = module
    return module


def cached_on_disk(arch_key: str) -> types.ModuleType | None:
    """The module generated earlier for ``arch_key`` (any process), or ``None``."""
    if arch_key in _MEMORY:
        return _MEMORY[arch_key]
    folder = cache_dir()
    hits = sorted(folder.glob(f"sbp_{arch_key}_*.py")) if folder.is_dir() else []
    return _import_file(hits[0], arch_key) if hits else None


def to_disk(source: str, arch_key: str) -> types.ModuleType:
    """Write ``source`` to the cache (atomically) and import it, so numba can cache next to it."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sbp_{arch_key}_{hashlib.sha256(source.encode()).hexdigest()[:12]}.py"
    if not path.exists():
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(source)
        os.replace(tmp, path)
    return _import_file(path, arch_key)


def _import_file(path: Path, arch_key: str) -> types.ModuleType:
    name = f"symbackprop_generated_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.__source__ = path.read_text()
    _MEMORY[arch_key] = module
    return module
