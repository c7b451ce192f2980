"""The code cache runs only what it wrote: altered, truncated or foreign files are rewritten; an unusable
cache folder means compiling without one (one warning), never a traceback."""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symbackprop import derive
from symbackprop.backends import loader, per_sample_module


def _fresh_module(net):
    loader._MEMORY.clear()
    return per_sample_module(net)


def test_an_altered_module_is_not_run_and_is_rewritten(monkeypatch):
    net = derive("2-3:tanh-1:logistic").network
    path = Path(_fresh_module(net).__file__)
    original = path.read_text()
    monkeypatch.delenv("SBP_PLANTED", raising=False)
    path.write_text(original + "\nimport os\nos.environ['SBP_PLANTED'] = '1'\n")
    module = _fresh_module(net)
    assert "SBP_PLANTED" not in os.environ
    assert path.read_text() == original and module.__source__ == original


def test_a_truncated_module_is_rewritten_and_trains():
    net = derive("2-3:tanh-1:logistic").network
    path = Path(_fresh_module(net).__file__)
    original = path.read_text()
    path.write_text(original[: len(original) // 2])
    module = _fresh_module(net)
    assert path.read_text() == original
    arrays = [np.full(s, 0.1) for s in net.shapes().values()]
    X, Y = np.ones((2, 4)), np.ones((1, 4))
    assert module.sgd(*arrays, X, Y, np.arange(4), 0.1, 4, np.zeros(1)) == -1


def test_a_foreign_file_under_another_name_is_never_imported(monkeypatch):
    net = derive("2-3:tanh-1:logistic").network
    folder = loader.cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sbp_0000000000000000000000.py").write_text("import os\nos.environ['SBP_PLANTED'] = '2'\n")
    monkeypatch.delenv("SBP_PLANTED", raising=False)
    _fresh_module(net)
    assert "SBP_PLANTED" not in os.environ


def _train_in_a_subprocess(tmp_path, cache: Path):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    rows = "\n".join(f"{a},{b},{int(a * b > 0)}" for a, b in X)
    (data / "d.csv").write_text("a,b,label\n" + rows + "\n")
    env = {**os.environ, "SYMBACKPROP_CACHE_DIR": str(cache), "HOME": str(data)}
    return subprocess.run([sys.executable, "-m", "symbackprop", "train", str(data / "d.csv"), "--net",
                           "2-5:tanh-1:logistic", "--iterations", "3000", "--seed", "1"],
                          capture_output=True, text=True, env=env, timeout=300)


def test_a_cache_path_that_is_a_file_still_trains(tmp_path):
    cache = tmp_path / "cache-file"
    cache.write_text("not a folder")
    run = _train_in_a_subprocess(tmp_path, cache)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.count("cannot use the code cache") == 1
    assert "test accuracy" in run.stdout


def test_a_read_only_cache_folder_still_trains(tmp_path):
    cache = tmp_path / "ro-cache"
    cache.mkdir()
    os.chmod(cache, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    immutable = hasattr(os, "geteuid") and os.geteuid() == 0  # root writes anywhere: make it immutable
    if immutable and (shutil.which("chattr") is None
                      or subprocess.run(["chattr", "+i", str(cache)], capture_output=True).returncode != 0):
        pytest.skip("running as root, and chattr +i (to make the folder read-only for root) is not available here")
    try:
        run = _train_in_a_subprocess(tmp_path, cache)
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(cache)], check=True)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr and "cannot use the code cache" in run.stderr
    assert not any(cache.iterdir())


class _Planted:
    """A pickle that, when loaded, writes a marker file (what a planted numba index could do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path(self.marker).write_text, ("ran",))


def _numba_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.suffix in (".nbi", ".nbc"))


def test_a_planted_numba_cache_pickle_is_never_loaded(tmp_path):
    """Before the fix, the second run loaded the planted index (the marker appeared) and exited 0."""
    import pickle

    cache = tmp_path / "cache"
    first = _train_in_a_subprocess(tmp_path, cache)
    assert first.returncode == 0, first.stderr
    indexes = [p for p in _numba_files(cache) if p.suffix == ".nbi"]
    assert indexes
    assert list(cache.rglob("*.numba.json")), "the digests of numba's files are recorded"
    marker = tmp_path / "planted-ran"
    for index in indexes:  # what an attacker with write access would leave: a pickle where numba reads one
        index.write_bytes(pickle.dumps(_Planted(marker)))
    second = _train_in_a_subprocess(tmp_path, cache)
    assert second.returncode == 0, second.stderr
    assert not marker.exists() and "Traceback" not in second.stderr
    assert "test accuracy" in second.stdout
    assert all(pickle.dumps(_Planted(marker)) != p.read_bytes() for p in _numba_files(cache))


def test_a_cache_folder_others_can_write_is_not_used(tmp_path):
    cache = tmp_path / "shared-cache"
    cache.mkdir()
    os.chmod(cache, 0o777)
    run = _train_in_a_subprocess(tmp_path, cache)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("cannot use the code cache") == 1 and "can be written by other users" in run.stderr
    assert not any(cache.iterdir())


def test_a_cached_build_is_not_announced_as_compiling(monkeypatch):
    train_module = importlib.import_module("symbackprop.train")
    per_sample = importlib.import_module("symbackprop.per_sample")
    said = []

    @contextlib.contextmanager
    def record(message, after=1.0):
        said.append(message)
        yield

    monkeypatch.setattr(per_sample, "announced", record)
    X = np.random.default_rng(0).normal(size=(30, 2))
    loader._MEMORY.clear()
    train_module.train("2-6:tanh-1:logistic", X, (X[:, 0] > 0).astype(float), iterations=100)
    assert said and "compiling" in said[0]
    said.clear()
    loader._MEMORY.clear()  # as a new process: the verified build is loaded from the disk cache
    train_module.train("2-6:tanh-1:logistic", X, (X[:, 0] > 0).astype(float), iterations=100)
    assert said == []
