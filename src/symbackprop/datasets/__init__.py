"""The example data sets symbackprop ships: CSV files (the textbook's font colours and five from scikit-learn) and a
text (first names, one a line, for a character model)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import SymbackpropError
from ..fileio import atomic_write


@dataclass(frozen=True)
class Dataset:
    """One shipped CSV: features, then its target column."""

    name: str
    what: str
    target: str | None  # None: a text
    licence: str  # the licence file beside it

    @property
    def file(self) -> str:
        return f"{self.name}.{'csv' if self.target else 'txt'}"

    def text(self) -> str:
        return resources.files(__package__).joinpath(self.file).read_text(encoding="utf-8")

    def describe(self, text: str) -> str:
        """How many rows (and the target column) or lines it has."""
        if self.target is None:
            return f"{text.count(chr(10))} lines"
        return f"{text.count(chr(10)) - 1} rows; target column {self.target}"


DATASETS = {d.name: d for d in (
    Dataset("font", "the textbook's background colours, RED, GREEN, BLUE in 0-255, 1345 rows (661 distinct); "
            "LIGHT_OR_DARK_FONT_IND 1 means a dark font", "LIGHT_OR_DARK_FONT_IND", "LICENSE-font (Apache-2.0)"),
    Dataset("digits", "8x8 images of handwritten digits, 64 pixels of 0-16 in rows (pixel_ROW_COL), 1797 rows; "
            "the digit", "digit", "LICENSE-scikit-learn (BSD-3-Clause)"),
    Dataset("iris", "four measurements of 150 iris flowers in cm; the species (3)", "species",
            "LICENSE-scikit-learn (BSD-3-Clause)"),
    Dataset("wine", "13 chemical measurements of 178 wines; the cultivar (3)", "cultivar",
            "LICENSE-scikit-learn (BSD-3-Clause)"),
    Dataset("breast_cancer", "30 measurements of 569 breast masses; the diagnosis, malignant or benign",
            "diagnosis", "LICENSE-scikit-learn (BSD-3-Clause)"),
    Dataset("diabetes", "age, sex, bmi, bp and six blood serum measurements of 442 patients, unscaled; the disease "
            "progression a year later (25-346)", "progression", "LICENSE-scikit-learn (BSD-3-Clause)"),
    Dataset("names", "5163 first names of the US Census 1990 lists, lowercase, one a line: a text for a "
            "character model (train names.txt)", None, "LICENSE-names (public domain; MIT)"),
)}


def get(name: str) -> Dataset:
    """The data set called ``name``, or one line naming those there are."""
    if name not in DATASETS:
        raise SymbackpropError(f"no data set {name!r}; there are {', '.join(DATASETS)}")
    return DATASETS[name]


def load_dataset(name: str):
    """Data set ``name`` read as ``train`` reads a CSV: a ``Dataset`` with features ``X`` (n_samples,
    n_features), targets ``y`` (numbers or text labels) and their names."""
    from ..data import read_csv

    if get(name).target is None:
        raise SymbackpropError(f"{name} is a text, not a table: train a language model on it (symbackprop data "
                               f"{name}; symbackprop train {name}.txt)")
    with resources.as_file(resources.files(__package__).joinpath(get(name).file)) as path:
        return read_csv(path, get(name).target)


def write(name: str, out: str | Path | None = None) -> Path:
    """Write data set ``name`` to ``out`` (default ``NAME.csv`` or ``NAME.txt`` here), through a temporary file."""
    dataset = get(name)
    path = Path(out) if out is not None else Path(dataset.file)
    atomic_write(path, dataset.text())
    return path
