"""Session-wide test settings: hermetic model store, so no developer's promoted model changes results."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _empty_model_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Workers and offline evaluation both use AR2 unless a test promotes a model into its own store."""
    previous = os.environ.get("VIGIL_MODEL_STORE")
    os.environ["VIGIL_MODEL_STORE"] = str(tmp_path_factory.mktemp("no-promoted-model"))
    yield
    if previous is None:
        os.environ.pop("VIGIL_MODEL_STORE", None)
    else:
        os.environ["VIGIL_MODEL_STORE"] = previous
