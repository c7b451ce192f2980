"""The README's test command installs what the tests use, and leaves out only what is marked slow (issue 22,
items 5 and 7)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11's (3.10 has none)")

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION = {"sklearn": "scikit-learn", "jax": "jax", "torch": "torch"}  # import name -> what pip installs
LOCAL = {"symbackprop", "conftest", "networks"}


def _requirement_names(items) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", item, maxsplit=1)[0].lower() for item in items}


def test_the_test_extra_brings_every_package_the_tests_import():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = _requirement_names(project["dependencies"]) | _requirement_names(
        project["optional-dependencies"]["test"])
    imported = set()
    for path in (ROOT / "tests").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name not in LOCAL
                   and not name.startswith("test_")}
    missing = {name for name in third_party if DISTRIBUTION.get(name, name).lower() not in installed}
    assert not missing, f"tests import {sorted(missing)}, which neither the dependencies nor the test extra install"
    assert {"torch", "jax"} <= installed


def test_the_plugin_that_addopts_calls_on_is_in_the_test_extra():
    """``-n auto`` in addopts is pytest-xdist's option: without the plugin the README's command would stop at once."""
    toml = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "-n auto" in toml["tool"]["pytest"]["ini_options"]["addopts"]
    assert "pytest-xdist" in _requirement_names(toml["project"]["optional-dependencies"]["test"])


def test_slow_tests_are_left_out_of_the_readme_command_and_the_readme_says_how_to_run_them():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "-m 'not slow'" in options["addopts"] and any(m.startswith("slow:") for m in options["markers"])
    readme = (ROOT / "README.md").read_text()
    assert "python -m pytest -m slow" in readme and '-m "slow or not slow"' in readme
    assert "python -m pytest -m slow" in (ROOT / ".ci" / "run").read_text()
