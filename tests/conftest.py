"""Test set-up: a private cache for generated code, and the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FONT_CSV = SHARED_DATA / "light_dark_font_training_set.csv"
REFERENCE = SHARED_DATA.parent / "reference" / "sympy_neural_network_derivatives.py"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    os.environ["SYMBACKPROP_CACHE_DIR"] = str(tmp_path_factory.mktemp("symbackprop-cache"))


@pytest.fixture
def font_csv():
    if not FONT_CSV.exists():
        pytest.skip(f"the textbook data set is not at {FONT_CSV} (it lives in ../shared/data)")
    return FONT_CSV


@pytest.fixture
def run_cli(capsys):
    """Run ``symbackprop`` through ``main(argv)``: returns (exit code, stdout, stderr)."""
    from symbackprop.cli import main

    def run(*argv):
        capsys.readouterr()  # only what this command prints (not, say, a compile notice from training before it)
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
