"""The shipped example data (issue 22, item 4): `symbackprop data`, `load_dataset`, equal to their sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import symbackprop
from symbackprop.datasets import DATASETS

SHAPES = {"font": (1345, 3), "digits": (1797, 64), "iris": (150, 4), "wine": (178, 13), "breast_cancer": (569, 30),
          "diabetes": (442, 10)}


def test_every_data_set_loads_with_its_shape_and_target():
    assert set(DATASETS) == set(SHAPES) | {"names"}  # names: a text (tests/test_language.py)
    for name, shape in SHAPES.items():
        d = symbackprop.load_dataset(name)
        assert d.X.shape == shape and len(d.y) == shape[0] and d.target_name == DATASETS[name].target, name
        assert np.all(np.isfinite(d.X))
    font = symbackprop.load_dataset("font")
    assert font.feature_names == ["RED", "GREEN", "BLUE"] and set(font.y) == {0.0, 1.0}
    assert len({tuple(r) for r in font.X}) == 661  # 661 distinct colours, as the textbook's file has
    assert sorted(set(symbackprop.load_dataset("iris").y)) == ["setosa", "versicolor", "virginica"]


def test_licences_ship_beside_the_data():
    folder = Path(symbackprop.datasets.__file__).parent
    assert "Apache License" in (folder / "LICENSE-font").read_text()
    assert "BSD 3-Clause" in (folder / "LICENSE-scikit-learn").read_text()


def test_the_data_equal_scikit_learns_copies():
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed (the test extra has it)")
    pairs = {"digits": datasets.load_digits(), "iris": datasets.load_iris(), "wine": datasets.load_wine(),
             "breast_cancer": datasets.load_breast_cancer(), "diabetes": datasets.load_diabetes(scaled=False)}
    for name, want in pairs.items():
        got = symbackprop.load_dataset(name)
        np.testing.assert_array_equal(got.X, want.data, err_msg=name)
        if name in ("digits", "diabetes"):
            np.testing.assert_array_equal(got.y, want.target)
        else:
            np.testing.assert_array_equal(got.y, np.asarray(want.target_names)[want.target])


def test_the_data_command_lists_writes_and_prints(run_cli, tmp_path, monkeypatch):
    code, out, _ = run_cli("data")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == list(DATASETS)
    code, out, _ = run_cli("data", "iris", "--out", tmp_path / "flowers.csv")
    assert code == 0 and out.strip() == f"wrote {tmp_path / 'flowers.csv'} (150 rows; target column species)"
    assert (tmp_path / "flowers.csv").read_text().splitlines()[0].endswith(",species")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("data", "font")
    assert code == 0 and (tmp_path / "font.csv").read_text().startswith("RED,GREEN,BLUE,LIGHT_OR_DARK_FONT_IND")
    code, out, _ = run_cli("data", "wine", "--out", "-")
    assert code == 0 and len(out.splitlines()) == 179
    code, out, err = run_cli("data", "mnist")
    assert code == 2 and err.strip().endswith("no data set 'mnist'; there are font, digits, iris, wine, "
                                              "breast_cancer, diabetes, names") and len(err.strip().splitlines()) == 1


def test_a_shipped_file_trains_through_the_cli(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_cli("data", "iris")
    code, out, _ = run_cli("train", "iris.csv", "--net", "4-8:tanh-3:softmax", "--standardize", "--batch-size", "16",
                           "--epochs", "60", "--lr", "0.1", "--out", "iris.json")
    assert code == 0
    accuracy = float(next(line for line in out.splitlines() if line.startswith("test accuracy")).split()[-1])
    assert accuracy >= 0.9
    code, out, _ = run_cli("evaluate", "iris.json", "iris.csv")
    assert code == 0 and "accuracy" in out


def test_a_text_data_set_is_not_loaded_as_a_table():
    with pytest.raises(symbackprop.SymbackpropError, match="names is a text, not a table"):
        symbackprop.load_dataset("names")
