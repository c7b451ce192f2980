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


def test_every_option_of_every_subcommand_has_a_help_text_and_each_subcommand_a_description():
    import argparse

    from symbackprop.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) >= {"derive", "train", "predict", "check", "gradcheck", "report", "export", "demo"}
    for name, command in sub.choices.items():
        assert command.description, name
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, (name, action.dest)
