"""score(): the issue's pure entry point, the same findings as the engine's score_value on a reading's parts."""

from __future__ import annotations

import pytest

from monitor.records import ReadingKind
from monitor.scoring import PatientState, score, score_value
from monitor.targets import DEFAULT_TARGETS
from monitor.testing import T0, cgm_series, reading


@pytest.mark.parametrize("values", [[120, 110, 95, 80, 66, 52], [180, 200, 230, 260], [100]])
def test_score_equals_score_value_on_the_parts(values):
    by_reading, by_parts = PatientState(), PatientState()
    for r in cgm_series(values):
        by_reading, found = score(by_reading, r, T0, targets=DEFAULT_TARGETS)
        by_parts, expected = score_value(by_parts, r.kind, r.reading_id, r.measured_at, float(r.value), None,
                                         DEFAULT_TARGETS, None)
        assert (by_reading, found) == (by_parts, expected)


def test_a_low_is_found_and_an_unusable_reading_changes_nothing():
    state, found = score(PatientState(), reading(50, 0), T0)
    assert {(f.family, f.level) for f in found} >= {("low", "urgent_low")}
    assert score(state, reading(None, 5), T0) == (state, ())
    assert score(state, reading(70, 5, kind=ReadingKind.CARBS, device="app"), T0) == (state, ())
