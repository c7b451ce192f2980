"""scikit-learn's conventions for real: its own estimator checks, pipelines, cross-validation, grid search."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is not installed (the test extra has it)")

from sklearn.datasets import load_diabetes, load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from symbackprop.sklearn import SymbackpropClassifier, SymbackpropRegressor  # noqa: E402


@parametrize_with_checks([SymbackpropClassifier(), SymbackpropRegressor()])
def test_scikit_learns_own_estimator_checks(estimator, check):
    check(estimator)


def test_pipeline_cross_validation_and_grid_search_on_iris():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), SymbackpropClassifier(hidden="8:relu", epochs=100, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85
    grid = GridSearchCV(SymbackpropClassifier(epochs=60), {"hidden": ["4:tanh", "8:relu"], "lr": [0.05, 0.1]}, cv=3)
    grid.fit(X, y)
    assert grid.best_params_["hidden"] in ("4:tanh", "8:relu") and grid.best_score_ > 0.85
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = SymbackpropClassifier(epochs=100).fit(X, names)
    assert set(clf.predict(X[:5])) <= set(names) and clf.predict_proba(X).shape == (150, 3)


def test_binary_proba_has_two_columns_score_is_a_float_and_repr_is_one_line():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    clf = SymbackpropClassifier(hidden="").fit(X, y)  # Adam, 200 epochs: the defaults
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 2) and np.allclose(proba.sum(axis=1), 1)
    assert list(clf.classes_) == ["no", "yes"] and isinstance(clf.score(X, y), float) and clf.score(X, y) > 0.9
    assert "\n" not in repr(clf) and repr(clf).startswith("SymbackpropClassifier(")
    assert "dC_dA1" in str(clf.derivation_) and str(clf.derivation_) == clf.derivation_.to_text()


def test_regressor_scores_r2_in_the_targets_units():
    X, y = load_diabetes(return_X_y=True)
    reg = make_pipeline(StandardScaler(), SymbackpropRegressor(hidden="16:relu", epochs=100))
    reg.fit(X[:300], y[:300])
    assert reg.score(X[300:], y[300:]) > 0.3
    assert 100 < reg.predict(X[300:]).mean() < 200
    assert cross_val_score(SymbackpropRegressor(epochs=50), X, y, cv=3).mean() > 0.2


@pytest.mark.parametrize("labels,message", [(["a", 1, 2.5, None], "Unknown label type"),
                                            ([{"a": 1}, 1, 2.5, 3], "Unknown label type")])
def test_labels_that_cannot_be_classes_are_a_value_error(labels, message):
    X = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(ValueError, match=message):
        SymbackpropClassifier(epochs=2).fit(X, labels * 10)
