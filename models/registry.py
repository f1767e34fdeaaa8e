"""Versioned model store in safe formats only: JSON manifests and NPZ arrays, checked by SHA-256, no pickle.

<store>/<version>/manifest.json  version, created, training-data hash, features, held-out patients,
                                 tree shapes, file hashes, metrics
<store>/<version>/trees.npz      numeric arrays only, loaded with allow_pickle=False
<store>/<version>/personal.json  per-patient residual corrections (pseudonymous keys)
<store>/PROMOTED                 the version the worker loads
Loading never runs code from the store: a file whose hash, shape or type is off raises ModelLoadError.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from models.api import Forecaster
from models.baseline import AR2
from models.features import FEATURES, HORIZONS
from models.forecast import (
    CGM_ONLY_SUFFIX,
    PERSONAL_FEATURES,
    QUANTILES,
    Correction,
    ForecastModel,
    GBForecaster,
)
from models.trees import ARRAYS, TreeEnsemble

FORMAT: Final = "vigil-model-1"
VERSION_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")
DTYPES: Final = {"feature": "i", "threshold": "f", "missing_left": "b", "left": "i", "right": "i",
                 "is_leaf": "b", "value": "f"}


class ModelLoadError(RuntimeError):
    """A model file is missing, unknown, tampered with or malformed; says which and why."""


def default_store() -> Path:
    return Path(os.environ.get("VIGIL_MODEL_STORE") or Path(os.environ.get("VIGIL_HOME", ".vigil")) / "model_store")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_version(version: str) -> str:
    if not VERSION_RE.match(version):
        raise ModelLoadError(f"invalid model version name {version!r}")
    return version


def save(model: ForecastModel, store: Path, *, data_hash: str, metrics: Mapping[str, Any] | None = None,
         extra: Mapping[str, Any] | None = None) -> Path:
    """Writes one version; refuses to overwrite an existing one."""
    folder = Path(store) / _check_version(model.version)
    folder.mkdir(parents=True, exist_ok=False)
    arrays: dict[str, np.ndarray] = {"personal_mean": model.personal_mean, "personal_scale": model.personal_scale}
    trees: dict[str, dict[str, float | int]] = {}
    personal: dict[str, dict[str, Any]] = {}
    for variant, part in _variants(model).items():
        for (h, q), ens in part.trees.items():
            for name, arr in ens.arrays().items():
                arrays[f"{variant}{h}_{q}__{name}"] = arr
            trees[f"{variant}{h}_{q}"] = {"baseline": ens.baseline, "depth": ens.depth,
                                          "n_trees": int(ens.feature.shape[0])}
        personal["cgm_only" if variant == CGM_PREFIX else "context"] = {
            key: {"intercept": list(c.intercept), "weights": [list(w) for w in c.weights], "days": c.days}
            for key, c in part.corrections.items()}
    np.savez(folder / "trees.npz", allow_pickle=False, **arrays)
    (folder / "personal.json").write_text(json.dumps(personal, sort_keys=True))
    manifest = {
        "format": FORMAT,
        "version": model.version,
        "created": datetime.now(UTC).isoformat(),
        "training_data_sha256": data_hash,
        "features": list(FEATURES),
        "personal_features": list(PERSONAL_FEATURES),
        "horizons": list(HORIZONS),
        "quantiles": list(QUANTILES),
        "trees": trees,
        "variants": sorted(personal),
        "files": {name: sha256_file(folder / name) for name in ("trees.npz", "personal.json")},
        "metrics": dict(metrics or {}),
        **dict(extra or {}),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return folder


CGM_PREFIX: Final = "cgm__"


def _variants(model: ForecastModel) -> dict[str, ForecastModel]:
    """{array-name prefix: model}: the context model and, if trained, its CGM-only variant."""
    return {"": model, **({CGM_PREFIX: model.cgm_only} if model.cgm_only is not None else {})}


def read_manifest(store: Path, version: str) -> dict[str, Any]:
    path = Path(store) / _check_version(version) / "manifest.json"
    if not path.is_file():
        raise ModelLoadError(f"unknown model version {version!r}: no {path}")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelLoadError(f"{path}: not a {FORMAT} manifest")
    if manifest.get("version") != version:
        raise ModelLoadError(f"{path}: manifest names version {manifest.get('version')!r}, not {version!r}")
    if manifest.get("features") != list(FEATURES) or manifest.get("horizons") != list(HORIZONS):
        raise ModelLoadError(f"{path}: trained on other features or horizons than this build computes")
    return manifest


def load(store: Path, version: str) -> ForecastModel:
    """Loads and verifies one version. Raises ModelLoadError, never executes anything from the files."""
    manifest = read_manifest(store, version)
    folder = Path(store) / version
    for name, expected in dict(manifest.get("files", {})).items():
        path = folder / name
        if name not in ("trees.npz", "personal.json") or not path.is_file():
            raise ModelLoadError(f"{folder}: missing or unexpected file {name!r}")
        if sha256_file(path) != expected:
            raise ModelLoadError(f"{path}: SHA-256 does not match the manifest (file changed or tampered with)")
    try:
        with np.load(folder / "trees.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"{folder / 'trees.npz'}: not a plain numeric NPZ ({exc})") from exc
    try:
        personal = json.loads((folder / "personal.json").read_text())
        mean, scale = arrays["personal_mean"].astype(float), arrays["personal_scale"].astype(float)
        cgm_only = None
        if "cgm_only" in manifest.get("variants", []):
            cgm_only = ForecastModel(version + CGM_ONLY_SUFFIX, _trees(manifest, arrays, CGM_PREFIX), mean, scale,
                                     _corrections(personal["cgm_only"]))
        return ForecastModel(version, _trees(manifest, arrays, ""), mean, scale,
                             _corrections(personal["context"]), cgm_only)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelLoadError(f"{folder}: malformed model ({exc!r})") from exc


def _trees(manifest: Mapping[str, Any], arrays: Mapping[str, np.ndarray], prefix: str
           ) -> dict[tuple[int, str], TreeEnsemble]:
    trees: dict[tuple[int, str], TreeEnsemble] = {}
    for h in HORIZONS:
        for q in QUANTILES:
            key = f"{prefix}{h}_{q}"
            info = manifest["trees"][key]
            part = {name: arrays[f"{key}__{name}"] for name in ARRAYS}
            for name, arr in part.items():
                if arr.dtype.kind != DTYPES[name]:
                    raise ModelLoadError(f"{key}__{name}: dtype {arr.dtype} is not numeric kind {DTYPES[name]}")
            ens = TreeEnsemble.from_arrays(float(info["baseline"]), int(info["depth"]), part)
            if int(ens.feature.max()) >= len(FEATURES) or int(ens.feature.min()) < 0:
                raise ModelLoadError(f"{key}: split on a feature index outside 0..{len(FEATURES) - 1}")
            if max(int(ens.left.max()), int(ens.right.max())) >= ens.feature.shape[1]:
                raise ModelLoadError(f"{key}: child index outside the tree")
            trees[(h, q)] = ens
    return trees


def _corrections(raw: Mapping[str, Any]) -> dict[str, Correction]:
    return {
        str(k): Correction(tuple(float(v) for v in c["intercept"]),
                           tuple(tuple(float(w) for w in ws) for ws in c["weights"]), float(c["days"]))
        for k, c in raw.items()
    }


def versions(store: Path) -> list[dict[str, Any]]:
    """Manifests of every readable version, oldest first, with a 'promoted' flag."""
    store = Path(store)
    promoted = promoted_version(store)
    found = []
    for path in sorted(store.glob("*/manifest.json")):
        try:
            manifest = read_manifest(store, path.parent.name)
        except ModelLoadError as exc:
            found.append({"version": path.parent.name, "error": str(exc), "promoted": False, "created": ""})
            continue
        manifest["promoted"] = manifest["version"] == promoted
        found.append(manifest)
    return sorted(found, key=lambda m: str(m.get("created", "")))


def promote(store: Path, version: str) -> None:
    """Marks a version for the worker after checking that it loads."""
    load(store, version)
    tmp = Path(store) / "PROMOTED.tmp"
    tmp.write_text(version + "\n")
    tmp.replace(Path(store) / "PROMOTED")


def promoted_version(store: Path) -> str | None:
    path = Path(store) / "PROMOTED"
    return path.read_text().strip() or None if path.is_file() else None


def load_promoted(store: Path) -> ForecastModel | None:
    version = promoted_version(store)
    return None if version is None else load(store, version)


_AR2: Final = AR2()  # stateless: one for every patient, so the engine's "scored with" check is an identity test


def forecaster_for(model: ForecastModel | None, patient_key: str) -> Forecaster:
    """The worker's choice: the promoted model (personalized if the patient has a correction), else AR2."""
    if model is None:
        return _AR2
    return GBForecaster(model, patient_key)


def worker_forecasters(store: Path | None = None) -> Callable[[str], Forecaster]:
    """For monitor.agents.register(forecaster_for=...): the promoted model loaded once, else AR2 for all.

    A promoted version that fails to load raises ModelLoadError at start-up rather than silently
    scoring with a different model than the operator chose.
    """
    model = load_promoted(store or default_store())
    if model is None:
        return _always_ar2  # no promoted model: the same AR2 for every patient, no call through forecaster_for

    def forecaster(patient_key: str) -> Forecaster:
        return forecaster_for(model, patient_key)

    return forecaster


def _always_ar2(patient_key: str) -> Forecaster:
    return _AR2
