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


def console_commands() -> list[tuple[str, list[str]]]:
    """Each ``$ command`` of the README's console blocks (continuation lines joined) with the lines it shows."""
    out = []
    for block in re.findall(r"^```console\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out and out[-1][0].endswith("\\"):
                out[-1] = (out[-1][0][:-1] + " " + line.strip(), out[-1][1])
            elif out:
                out[-1][1].append(line)
    return out


@pytest.mark.slow
def test_every_console_command_of_the_readme_runs_on_a_fresh_clone(tmp_path):
    """Issue 22, item 4: in an empty folder (the repository's examples beside it), every README command runs,
    in order, and prints the lines the README shows (training runs as the README says: the same numbers)."""
    import os
    import shutil

    (tmp_path / "examples").symlink_to(README.parent / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command, shown in console_commands():
        if command.startswith("cc ") and shutil.which("cc") is None:
            continue  # the C export's harness: only where there is a C compiler
        run = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                             env=env)
        assert run.returncode in (0, 1) if "check" in command else run.returncode == 0, (command, run.stderr)
        got = run.stdout.splitlines()
        missing = [line for line in shown if line not in got and line.strip() not in ("...", "…")]  # ... elides
        assert not missing, (command, missing, got[:40])
