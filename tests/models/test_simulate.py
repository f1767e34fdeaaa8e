"""The simulated cohort: contract columns, pseudonymous keys, context events, determinism."""

from __future__ import annotations

import pandas as pd
import pytest

from models import simulate
from models.simulate import COLUMNS, SimJob, select_patients, simulate_cohort, simulate_patient
from monitor.pseudonym import is_patient_key

SECRET = b"test-secret-0123456789"


@pytest.fixture(scope="module")
def one_day() -> pd.DataFrame:
    return simulate_patient(SimJob("child#002", 1, 7, SECRET))


def test_columns_kinds_and_units(one_day: pd.DataFrame) -> None:
    assert tuple(one_day.columns) == COLUMNS
    cgm = one_day[one_day.kind == "cgm"]
    assert len(cgm) == 288  # one reading every 5 minutes
    assert cgm.measured_at.diff().dropna().eq(pd.Timedelta(minutes=5)).all()
    assert set(one_day.kind) == {"cgm", "carbs", "insulin"}
    assert dict(one_day.groupby("kind").unit.first()) == {"cgm": "mg/dL", "carbs": "g", "insulin": "U"}
    assert cgm.value.between(39, 600).all()
    assert (one_day[one_day.kind == "insulin"].context == "rapid").all()
    assert str(one_day.measured_at.dt.tz) == "UTC"
    assert one_day.reading_id.is_unique


def test_keys_are_pseudonyms_not_names(one_day: pd.DataFrame) -> None:
    keys = set(one_day.patient_key)
    assert len(keys) == 1 and is_patient_key(keys.pop())
    assert not one_day.astype(str).apply(lambda col: col.str.contains("child#")).any().any()
    assert set(one_day.subgroup) == {"child"}


def test_same_seed_same_data_other_seed_other_data(one_day: pd.DataFrame) -> None:
    again = simulate_patient(SimJob("child#002", 1, 7, SECRET))
    pd.testing.assert_frame_equal(one_day, again)
    other = simulate_patient(SimJob("child#002", 1, 8, SECRET))
    assert not one_day[one_day.kind == "cgm"].value.reset_index(drop=True).equals(
        other[other.kind == "cgm"].value.reset_index(drop=True))


def test_cohort_on_a_process_pool_sorted_by_patient_and_time() -> None:
    jobs = [SimJob(name, 1, 3, SECRET) for name in ("adult#001", "adolescent#001")]
    cohort = simulate_cohort(jobs, processes=2, progress=False)
    assert cohort.patient_key.nunique() == 2
    assert set(cohort.subgroup) == {"adult", "adolescent"}
    for _, one in cohort.groupby("patient_key"):
        assert one.measured_at.is_monotonic_increasing


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("adult#001", ("adult#001",)),
        ("child:2", ("child#001", "child#002")),
        ("adult:1,child:1,adult#001", ("adult#001", "child#001")),
    ],
)
def test_select_patients(spec: str, expected: tuple[str, ...]) -> None:
    assert select_patients(spec) == expected


def test_select_all_and_refusals() -> None:
    assert len(select_patients("all")) == 30
    with pytest.raises(ValueError, match="unknown patient"):
        select_patients("elderly")


SENSOR_FLOOR = 39.0  # GuardianRT's lowest reading


def longest_floor_run(frame: pd.DataFrame) -> int:
    """Most consecutive CGM readings at the sensor floor."""
    at_floor = frame[frame.kind == "cgm"].value.reset_index(drop=True).le(SENSOR_FLOOR)
    return int(at_floor.groupby((~at_floor).cumsum()).sum().max())


@pytest.fixture(scope="module")
def steep_fall() -> pd.DataFrame:
    """child#001, seed 3: a forgotten bolus, ~450 mg/dL, a large correction, then a fall of ~5 mg/dL/min."""
    return simulate_patient(SimJob("child#001", 1, 3, SECRET))


def test_lows_are_self_treated_and_the_patient_recovers(steep_fall: pd.DataFrame) -> None:
    # Regression: untreated, this child's plasma glucose reached 0, where simglucose freezes it; the CGM
    # then read 39 for the rest of the run, and a held-out dead child made last value exact (RMSE 0).
    cgm = steep_fall[steep_fall.kind == "cgm"].set_index("measured_at").value
    assert len(cgm) == 288
    assert longest_floor_run(steep_fall) < 6
    assert cgm.between_time("21:00", "23:59").std() > 5  # alive at the end of the day, not frozen
    treats = steep_fall[steep_fall.context == "hypo_treatment"]
    assert len(treats) >= 1 and (treats.kind == "carbs").all() and (treats.value == 15).all()
    assert (cgm.loc[treats.measured_at] < 70).all()  # treated only when the CGM said low
    assert treats.measured_at.diff().dropna().ge(pd.Timedelta(minutes=15)).all()


def test_untreated_low_ends_the_trace_not_a_flat_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulate, "HYPO_TREAT_BELOW", 0.0)  # nobody treats the low
    with pytest.warns(RuntimeWarning, match=r"child#001 \(seed 3\) ends at minute"):
        frame = simulate_patient(SimJob("child#001", 1, 3, SECRET))
    cgm = frame[frame.kind == "cgm"]
    assert 200 < len(cgm) < 288  # the day up to the model's death, not the frozen rest of it
    assert not (frame.context == "hypo_treatment").any()
    assert longest_floor_run(frame) < 24
