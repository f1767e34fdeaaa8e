"""Gradient-boosted trees as plain arrays: exported from scikit-learn, saved as NPZ, predicted in numpy.

A fitted HistGradientBoostingRegressor is reduced to padded (trees x nodes) arrays of split features,
thresholds, children, missing-value directions and leaf values. Those arrays load with
allow_pickle=False (no code runs on load) and predict one row in microseconds (all trees at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ARRAYS = ("feature", "threshold", "missing_left", "left", "right", "is_leaf", "value")


@dataclass(frozen=True, slots=True)
class TreeEnsemble:
    """Sum of regression trees plus a baseline; arrays are (n_trees, max_nodes)."""

    baseline: float
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    depth: int

    @classmethod
    def from_sklearn(cls, model: Any) -> TreeEnsemble:
        trees = [predictors[0].nodes for predictors in model._predictors]
        n_nodes = max(len(t) for t in trees)
        shape = (len(trees), n_nodes)
        out: dict[str, np.ndarray] = {
            "feature": np.zeros(shape, np.int32), "threshold": np.zeros(shape, np.float64),
            "missing_left": np.zeros(shape, np.bool_), "left": np.zeros(shape, np.int32),
            "right": np.zeros(shape, np.int32), "is_leaf": np.ones(shape, np.bool_),
            "value": np.zeros(shape, np.float64),
        }
        for i, nodes in enumerate(trees):
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not supported by the array export")
            n = len(nodes)
            out["feature"][i, :n] = nodes["feature_idx"]
            out["threshold"][i, :n] = nodes["num_threshold"]
            out["missing_left"][i, :n] = nodes["missing_go_to_left"].astype(bool)
            out["left"][i, :n] = nodes["left"]
            out["right"][i, :n] = nodes["right"]
            out["is_leaf"][i, :n] = nodes["is_leaf"].astype(bool)
            out["value"][i, :n] = nodes["value"]
        depth = int(max(int(t["depth"].max()) for t in trees))
        return cls(baseline=float(np.ravel(model._baseline_prediction)[0]), depth=depth, **out)

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAYS}

    @classmethod
    def from_arrays(cls, baseline: float, depth: int, arrays: dict[str, np.ndarray]) -> TreeEnsemble:
        shapes = {arrays[name].shape for name in ARRAYS}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"tree arrays must share one 2-D shape, got {shapes}")
        return cls(baseline=baseline, depth=depth, **{name: arrays[name] for name in ARRAYS})

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions for rows of x (n_rows x n_features); NaN follows each split's missing direction."""
        result: np.ndarray = self.baseline + self.leaf_values(x).sum(axis=1)
        return result

    def leaf_values(self, x: np.ndarray) -> np.ndarray:
        """(n_rows x n_trees) value of the leaf each row reaches in each tree."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        n_trees = self.feature.shape[0]
        rows = np.arange(x.shape[0])[:, None]
        trees = np.arange(n_trees)[None, :]
        node = np.zeros((x.shape[0], n_trees), dtype=np.int32)
        for _ in range(self.depth):
            leaf = self.is_leaf[trees, node]
            if leaf.all():
                break
            xv = x[rows, self.feature[trees, node]]
            go_left = np.where(np.isnan(xv), self.missing_left[trees, node], xv <= self.threshold[trees, node])
            nxt = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(leaf, node, nxt)
        leaves: np.ndarray = self.value[trees, node]
        return leaves


@dataclass(frozen=True, slots=True)
class StackedTrees:
    """Several ensembles traversed in one pass (all horizons and quantiles of a live reading at once)."""

    trees: TreeEnsemble
    membership: np.ndarray  # (n_trees x n_ensembles) one-hot
    baselines: np.ndarray

    @classmethod
    def of(cls, ensembles: list[TreeEnsemble]) -> StackedTrees:
        width = max(e.feature.shape[1] for e in ensembles)

        def pad(arr: np.ndarray, fill: object) -> np.ndarray:
            return np.pad(arr, ((0, 0), (0, width - arr.shape[1])), constant_values=fill)  # type: ignore[call-overload, no-any-return]

        fills = {"feature": 0, "threshold": 0.0, "missing_left": False, "left": 0, "right": 0, "is_leaf": True,
                 "value": 0.0}
        arrays = {name: np.concatenate([pad(getattr(e, name), fills[name]) for e in ensembles]) for name in ARRAYS}
        sizes = [e.feature.shape[0] for e in ensembles]
        membership = np.zeros((sum(sizes), len(ensembles)))
        membership[np.arange(sum(sizes)), np.repeat(np.arange(len(ensembles)), sizes)] = 1.0
        stacked = TreeEnsemble.from_arrays(0.0, max(e.depth for e in ensembles), arrays)
        return cls(stacked, membership, np.array([e.baseline for e in ensembles]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n_rows x n_ensembles) predictions, equal to each ensemble's own predict()."""
        result: np.ndarray = self.baselines + self.trees.leaf_values(x) @ self.membership
        return result
