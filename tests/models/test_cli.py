"""`vigil data simulate` and `vigil models train | list | promote | evaluate` end to end on a tiny cohort."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from monitor.__main__ import main


def test_simulate_train_list_promote_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "home"))
    # Hermetic keys: the split is chosen by key. This secret holds out child#001, whose seed-3 run used to
    # die at the sensor floor (see test_simulate.test_untreated_low_ends_the_trace_not_a_flat_floor).
    monkeypatch.setenv("VIGIL_PSEUDONYM_SECRET", "vigil-test-secret-0123456789")
    data = tmp_path / "cohort.parquet"
    assert main(["data", "simulate", "--patients", "adult:2,child:2", "--days", "4", "--seed", "3",
                 "--out", str(data), "--processes", "2"]) == 0
    cohort = pd.read_parquet(data)
    assert cohort.patient_key.nunique() == 4
    assert json.loads(data.with_suffix(".parquet.json").read_text())["seed"] == 3

    store = tmp_path / "store"
    assert main(["models", "train", "--data", str(data), "--holdout-per-group", "1", "--version", "v1",
                 "--store", str(store)]) == 0
    manifest = json.loads((store / "v1" / "manifest.json").read_text())
    assert len(manifest["held_out_keys"]) == 2 and manifest["n_train_patients"] == 2
    assert not set(manifest["held_out_keys"]) & set(manifest["corrections_for"])

    assert main(["models", "promote", "v2", "--store", str(store)]) == 2
    assert "unknown model version 'v2'" in capsys.readouterr().err
    assert main(["models", "promote", "v1", "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--store", str(store)]) == 0
    assert capsys.readouterr().out.startswith("* v1")

    out = tmp_path / "reports"
    assert main(["models", "evaluate", "--data", str(data), "--store", str(store), "--out", str(out)]) == 0
    card = (out / "v1" / "model_card.md").read_text()
    assert "| overall | personalized |" in card and "| child | ar2 |" in card
    assert {p.name for p in (out / "v1").glob("*.png")} == {"trace_adult.png", "trace_child.png", "clarke_30.png"}
    metrics = pd.read_csv(out / "v1" / "metrics.csv")
    assert set(metrics.method) == {"last_value", "ar2", "population", "personalized", "population_cgm",
                                   "personalized_cgm"}
    assert (metrics.rmse30 > 0).all()
