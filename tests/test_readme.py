"""The README's Python blocks run as written, in order, in one interpreter (issue 14, item 7)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
NEEDS = {"jax": "JAX is not installed (pip install 'symbackprop[jax]')",
         "torch": "PyTorch is not installed (pip install torch==2.13.0)"}


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_the_readme_has_python_blocks():
    assert len(python_blocks()) >= 3


def test_every_python_block_of_the_readme_runs_in_order(tmp_path):
    source = "\n".join(python_blocks())
    for module, reason in NEEDS.items():
        if f'"{module}"' in source or f"import {module}" in source:
            pytest.importorskip(module, reason=reason)
    script = tmp_path / "readme_blocks.py"
    script.write_text(source, encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
