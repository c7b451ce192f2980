"""Fuzzing: random spec strings and CSV contents never escape as anything but the project's own error."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbackprop import parse_spec
from symbackprop.cli import main
from symbackprop.errors import SymbackpropError

TOKENS = st.sampled_from(["3", "1", "0", "-", ":", "relu", "softmax", "logistic", "tanh", "x", " ", "12", "",
                          "sigmoid", "leaky_relu", ":relu", "-1:logistic", "--", "1e3", "٣"])
SPECS = st.one_of(st.text(max_size=30), st.lists(TOKENS, max_size=10).map("".join))


@given(SPECS, st.sampled_from(["squared_error", "cross_entropy", "binary_cross_entropy", "bogus"]))
@settings(max_examples=300, deadline=None)
def test_random_specs_parse_or_raise_our_error(text, cost):
    try:
        net = parse_spec(text, cost)
    except SymbackpropError as err:
        assert "\n" not in str(err)
    else:
        assert parse_spec(net.spec, cost) == net


CELLS = st.one_of(st.integers(-5, 5).map(str), st.sampled_from(["", "nan", "inf", "x", "1.5", " 2", "1e400", '"']),
                  st.text(max_size=3))
ROWS = st.lists(st.lists(CELLS, min_size=0, max_size=4).map(",".join), max_size=6)


@given(rows=ROWS, net_args=st.sampled_from([["--net", "2-1:logistic"],
                                            ["--net", "3-2:softmax", "--cost", "cross_entropy"],
                                            ["--net", "1-1:identity", "--target", "b"]]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_csv_contents_succeed_or_exit_2(rows, net_args, capsys):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.csv"
        path.write_text("\n".join(["a,b,y", *rows]) + "\n")
        code = main(["train", str(path), *net_args, "--iterations", "20"])
        captured = capsys.readouterr()
        assert code in (0, 2), captured.err
        if code == 2:
            assert len(captured.err.strip().splitlines()) == 1
