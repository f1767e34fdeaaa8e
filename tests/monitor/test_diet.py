"""Diet advice: guideline content per kind and locale, and the red line (no medicine, insulin or dose)."""

from __future__ import annotations

import pytest

from monitor import diet, messages
from monitor.diet import FORBIDDEN, advice_for


@pytest.mark.parametrize(("kind", "locale", "must_contain"), [
    ("low", "en", "15g fast carbs"),
    ("low", "en", "recheck in 15 min"),
    ("low", "en", "snack"),
    ("urgent_low", "en", "emergency services"),
    ("urgent_low", "en", "15g fast carbs"),
    ("high", "en", "water"),
    ("very_high", "en", "ketones"),
    ("low", "zh-CN", "15克速效糖"),
    ("urgent_low", "zh-CN", "急救"),
    ("very_high", "zh-CN", "酮体"),
    ("urgent_low", "zh-Hans-CN", "急救"),
    ("low", "fr", "15g"),
])
def test_advice_follows_the_guideline(kind: str, locale: str, must_contain: str) -> None:
    advice = advice_for(kind, locale)
    assert advice is not None
    assert must_contain in advice.text


def test_advice_ids_name_kind_and_locale() -> None:
    assert advice_for("low", "zh-CN").advice_id == "diet.low.15-15.v1.zh-CN"  # type: ignore[union-attr]
    assert advice_for("vitals_spo2", "en").advice_id == "care.vitals.v1.en"  # type: ignore[union-attr]
    assert advice_for("something_else") is None


@pytest.mark.parametrize("text", diet.all_texts() + messages.all_templates())
def test_no_template_or_advice_contains_a_medication_or_dose(text: str) -> None:
    assert FORBIDDEN.search(text) is None, text


@pytest.mark.parametrize("bad", [
    "Take 2 units of insulin", "increase the dose", "take your medication", "打胰岛素", "注射", "服药",
    "bolus now", "metformin", "give glucagon",
])
def test_the_red_line_detector_catches_dosing_text(bad: str) -> None:
    assert FORBIDDEN.search(bad) is not None
