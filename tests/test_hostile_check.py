"""Hostile checked code, round three (issue 21, items 3, 10, 13): the user's code cannot choose check's verdict,
crash it with a traceback, or make it grow without bound."""

from __future__ import annotations

import textwrap

import pytest

from symbackprop.isolate import memory_limit

CORRECT = """
import numpy as np

def backprop(params, X, Y):
    W1, B1 = params["W1"], params["B1"]
    m = X.shape[1]
    Z1 = W1 @ X + B1
    A1 = 1 / (1 + np.exp(-Z1))
    dZ1 = 2 * (A1 - Y) * A1 * (1 - A1) / m
    return {"W1": dZ1 @ X.T, "B1": dZ1.sum(axis=1, keepdims=True)}
"""


def _write(tmp_path, body: str, name="user.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return f"{path}:backprop"


def test_a_correct_function_still_passes_in_the_child_process(run_cli, tmp_path):
    code, out, err = run_cli("check", "2-1:logistic", _write(tmp_path, CORRECT), "--trials", "2")
    assert code == 0 and "OK: every gradient agrees" in out


@pytest.mark.parametrize("ending", ["os._exit(0)", "os._exit(7)", "os.kill(os.getpid(), signal.SIGKILL)"])
def test_a_function_that_ends_the_process_is_exit_2_not_a_verdict(run_cli, tmp_path, ending):
    body = f"""
    import os, signal

    def backprop(params, X, Y):
        {ending}
    """
    code, out, err = run_cli("check", "2-1:logistic", _write(tmp_path, body))
    assert code == 2 and not out and err.count("\n") == 1 and "Traceback" not in err
    assert "ended the checking process" in err and ("os._exit" in err or "SIGKILL" in err)


def test_os_exit_at_import_is_exit_2(run_cli, tmp_path):
    code, out, err = run_cli("check", "2-1:logistic", _write(tmp_path, "import os\nos._exit(0)\n"))
    assert code == 2 and not out and "ended the checking process" in err


@pytest.mark.parametrize("exc", ["GeneratorExit", "BaseException", "type('Custom', (BaseException,), {})"])
def test_base_exceptions_from_user_code_are_one_line(run_cli, tmp_path, exc):
    body = f"""
    def backprop(params, X, Y):
        raise {exc}("boom")
    """
    code, out, err = run_cli("check", "2-1:logistic", _write(tmp_path, body), "--layout", "columns")
    assert code == 2 and not out and err.count("\n") == 1 and "Traceback" not in err
    assert "user.py:3 in backprop" in err


def test_base_exception_at_import_is_one_line(run_cli, tmp_path):
    code, out, err = run_cli("check", "2-1:logistic", _write(tmp_path, "raise GeneratorExit('x')\n"))
    assert code == 2 and err.count("\n") == 1 and "importing" in err and "GeneratorExit" in err


def test_huge_wrong_shaped_gradients_are_not_converted(run_cli, tmp_path):
    """Four 10,000 x 10,000 arrays (3.2 GB) returned on every call: reported by shape, memory stays bounded."""
    body = """
    import numpy as np

    BIG = np.zeros((10_000, 10_000))

    def backprop(params, X, Y):
        return {"W1": BIG, "B1": BIG, "W2": BIG, "B2": BIG}
    """
    code, out, err = run_cli("check", "2-2:tanh-1:logistic", _write(tmp_path, body), "--trials", "3",
                             "--layout", "columns")
    assert code == 1 and "has shape (10000, 10000), expected (2, 2)" in out


def test_a_function_that_allocates_past_the_limit_is_one_line(run_cli, tmp_path):
    limit = memory_limit()
    if limit is None:
        pytest.skip("this machine's memory cannot be told")
    body = f"""
    import numpy as np

    def backprop(params, X, Y):
        hog = np.ones({limit // 8 + 2**27})
        return {{"W1": hog, "B1": hog}}
    """
    code, out, err = run_cli("check", "2-1:logistic", _write(tmp_path, body), "--layout", "columns")
    assert code == 2 and not out and err.count("\n") == 1 and "user.py:5 in backprop: MemoryError" in err
