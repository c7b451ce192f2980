"""The command line as a whole: entry points, help and version."""

from __future__ import annotations

import subprocess
import sys

from symbackprop import __version__
from symbackprop.cli import main


def test_python_dash_m_runs_the_command():
    out = subprocess.run([sys.executable, "-m", "symbackprop", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"symbackprop {__version__}"


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "derive" in capsys.readouterr().out


def test_unknown_command_is_one_line(capsys):
    assert main(["derivee"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "invalid choice: 'derivee'" in err
