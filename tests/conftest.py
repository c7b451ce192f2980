"""Test set-up: a private cache for generated code, the textbook's data (shipped in the package), the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import symbackprop.datasets

FONT_CSV = Path(symbackprop.datasets.__file__).with_name("font.csv")  # the textbook's data set, as shipped


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    os.environ["SYMBACKPROP_CACHE_DIR"] = str(tmp_path_factory.mktemp("symbackprop-cache"))


@pytest.fixture
def font_csv():
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
