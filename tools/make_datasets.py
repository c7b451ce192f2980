"""Write the example data sets symbackprop ships (src/symbackprop/datasets/): run once, with scikit-learn installed.

The textbook's font data comes from ../shared/data (Apache-2.0); digits, iris, wine, breast_cancer and diabetes
from scikit-learn's bundled copies (BSD-3-Clause), as CSV with a header: features, then the target.
Run: python tools/make_datasets.py
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from sklearn import datasets

OUT = Path(__file__).resolve().parents[1] / "src" / "symbackprop" / "datasets"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def column(name: str) -> str:
    """A feature name as a CSV header cell: words joined by underscores."""
    return "_".join(name.replace("(", " ").replace(")", " ").split())


def write(name: str, header: list[str], rows) -> None:
    with open(OUT / f"{name}.csv", "w", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)


def number(v) -> str:
    """Integers as integers, other values by repr (exact, short)."""
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHARED / "light_dark_font_training_set.csv", OUT / "font.csv")
    shutil.copyfile(SHARED / "LICENSE-machine-learning-demo-data", OUT / "LICENSE-font")
    digits = datasets.load_digits()
    write("digits", [f"pixel_{r}_{c}" for r in range(8) for c in range(8)] + ["digit"],
          ([number(v) for v in x] + [int(t)] for x, t in zip(digits.data, digits.target)))
    for name, loader, target in (("iris", datasets.load_iris, "species"), ("wine", datasets.load_wine, "cultivar"),
                                 ("breast_cancer", datasets.load_breast_cancer, "diagnosis")):
        d = loader()
        write(name, [column(f) for f in d.feature_names] + [target],
              ([number(v) for v in x] + [d.target_names[t]] for x, t in zip(d.data, d.target)))
    d = datasets.load_diabetes(scaled=False)
    write("diabetes", [column(f) for f in d.feature_names] + ["progression"],
          ([number(v) for v in x] + [number(t)] for x, t in zip(d.data, d.target)))
    import sklearn

    licence = next(Path(sklearn.__file__).resolve().parents[1].glob("scikit_learn-*.dist-info/licenses/COPYING"))
    shutil.copyfile(licence, OUT / "LICENSE-scikit-learn")


if __name__ == "__main__":
    main()
