"""The array export of gradient-boosted trees predicts exactly what scikit-learn predicts."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from models.trees import TreeEnsemble


def test_array_trees_match_sklearn_with_missing_values() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 5))
    y = 3 * x[:, 0] - np.nan_to_num(x[:, 1]) ** 2 + rng.normal(scale=0.1, size=3000)
    x[rng.random(x.shape) < 0.1] = np.nan
    for loss in ({"loss": "squared_error"}, {"loss": "quantile", "quantile": 0.9}):
        model = HistGradientBoostingRegressor(max_iter=60, random_state=0, **loss).fit(x, y)
        ens = TreeEnsemble.from_sklearn(model)
        probe = rng.normal(size=(500, 5))
        probe[rng.random(probe.shape) < 0.2] = np.nan
        np.testing.assert_allclose(ens.predict(probe), model.predict(probe), rtol=0, atol=1e-9)
        np.testing.assert_allclose(ens.predict(probe[0]), model.predict(probe[:1]), rtol=0, atol=1e-9)


def test_round_trip_through_arrays() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 3))
    model = HistGradientBoostingRegressor(max_iter=10).fit(x, x[:, 0])
    ens = TreeEnsemble.from_sklearn(model)
    again = TreeEnsemble.from_arrays(ens.baseline, ens.depth, ens.arrays())
    np.testing.assert_array_equal(again.predict(x), ens.predict(x))


def test_stacked_ensembles_predict_like_each_ensemble() -> None:
    from models.trees import StackedTrees

    rng = np.random.default_rng(2)
    x = rng.normal(size=(800, 4))
    x[rng.random(x.shape) < 0.1] = np.nan
    ensembles = [TreeEnsemble.from_sklearn(HistGradientBoostingRegressor(max_iter=n, max_leaf_nodes=leaves,
                                                                         random_state=0).fit(x, np.nan_to_num(x[:, i])))
                 for i, (n, leaves) in enumerate([(5, 4), (20, 31), (12, 8)])]
    stacked = StackedTrees.of(ensembles)
    probe = x[:50]
    expected = np.column_stack([e.predict(probe) for e in ensembles])
    np.testing.assert_allclose(stacked.predict(probe), expected, rtol=0, atol=1e-9)
