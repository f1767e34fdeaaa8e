"""SMS templates: content, units, arrows, locales, and the two-segment limit for urgent alerts."""

from __future__ import annotations

import itertools

import pytest

from monitor.diet import FORBIDDEN
from monitor.messages import (
    Recipient,
    alert_code,
    format_glucose,
    is_gsm7,
    render_alert,
    render_reply,
    render_resolved,
    segments,
    short_ref,
    trend_arrow,
)
from monitor.records import AlertState, Severity
from tests.monitor.notify_factories import KIND_SEVERITY, PK, make_alert

RECIPIENTS = [Recipient(loc, unit, tz) for loc, unit, tz in itertools.product(
    ["en", "zh-CN"], ["mg/dL", "mmol/L"], ["UTC", "Asia/Shanghai", "America/New_York"])]
TRENDS = [None, -4.0, -2.5, -1.5, 0.0, 1.5, 2.5, 4.0]


@pytest.mark.parametrize(("text", "expected"), [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3), ("€" * 80, 1), ("€" * 81, 2),
    ("中" * 70, 1), ("中" * 71, 2), ("中" * 134, 2), ("中" * 135, 3), ("", 1),
])
def test_segments(text: str, expected: int) -> None:
    assert segments(text) == expected


@pytest.mark.parametrize(("kind", "recipient", "trend"), [
    (k, r, t) for k in KIND_SEVERITY if KIND_SEVERITY[k] is Severity.URGENT for r in RECIPIENTS for t in TRENDS])
def test_urgent_alerts_fit_in_two_segments(kind: str, recipient: Recipient, trend: float | None) -> None:
    text = render_alert(make_alert(kind, trend=trend), "4821", recipient)
    assert segments(text) <= 2, (len(text), text)
    if recipient.locale == "en":
        assert is_gsm7(text) and len(text) <= 306


@pytest.mark.parametrize(("recipient", "parts"), [
    (Recipient("en", "mg/dL", "UTC"),
     ["URGENT LOW", f"pt {short_ref(PK)}", "48 mg/dL vv", "03:12", "Below 54.", "15g fast carbs",
      "Reply ACK 4821 or SNOOZE 4821 30", "not medical advice"]),
    (Recipient("en", "mmol/L", "Asia/Shanghai"), ["2.7 mmol/L vv", "11:12", "Below 3.0."]),
    (Recipient("zh-CN", "mmol/L", "Asia/Shanghai"),
     ["紧急低血糖", "2.7 mmol/L⇊", "11:12", "低于3.0", "ACK 4821", "SNOOZE 4821 30", "非医疗建议"]),
])
def test_urgent_low_text(recipient: Recipient, parts: list[str]) -> None:
    text = render_alert(make_alert("urgent_low"), "4821", recipient)
    for part in parts:
        assert part in text, (part, text)


@pytest.mark.parametrize("kind", list(KIND_SEVERITY))
@pytest.mark.parametrize("recipient", RECIPIENTS[::3])
def test_every_kind_renders_without_names_or_doses(kind: str, recipient: Recipient) -> None:
    text = render_alert(make_alert(kind), "1234", recipient)
    assert PK not in text and "1234" in text
    assert FORBIDDEN.search(text) is None
    assert ("not medical advice" in text) or ("非医疗建议" in text)


@pytest.mark.parametrize(("trend", "locale", "arrow"), [
    (None, "en", ""), (-3.5, "en", "vv"), (-2.5, "en", "v"), (0.5, "en", "->"), (3.5, "en", "^^"),
    (-3.5, "zh-CN", "⇊"), (-1.5, "zh-CN", "↘"), (0.0, "zh-CN", "→"), (1.5, "zh-CN", "↗"), (2.5, "zh-CN", "↑"),
])
def test_trend_arrow(trend: float | None, locale: str, arrow: str) -> None:
    assert trend_arrow(trend, locale) == arrow


@pytest.mark.parametrize(("mgdl", "unit", "text"), [
    (54.0, "mg/dL", "54 mg/dL"), (54.0, "mmol/L", "3.0 mmol/L"), (180.0, "mmol/L", "10.0 mmol/L"),
    (69.6, "mg/dL", "70 mg/dL"),
])
def test_format_glucose(mgdl: float, unit: str, text: str) -> None:
    assert format_glucose(mgdl, unit) == text


def test_codes_and_refs_are_stable_short_and_not_the_key() -> None:
    assert alert_code("a_1") == alert_code("a_1")
    assert alert_code("a_1") != alert_code("a_1", 1)
    assert all(len(alert_code(f"a_{i}")) == 4 for i in range(200))
    assert short_ref(PK) == short_ref(PK) and len(short_ref(PK)) == 4 and short_ref(PK) not in PK


@pytest.mark.parametrize(("kind", "locale", "needle"), [
    ("confirm_ack", "en", "4821 acknowledged"), ("confirm_snooze", "en", "snoozed for 30 min"),
    ("confirm_ack", "zh-CN", "已确认"), ("help", "en", "SNOOZE <code>"), ("unknown", "zh-CN", "HELP"),
])
def test_reply_texts(kind: str, locale: str, needle: str) -> None:
    assert needle in render_reply(kind, locale, "4821", 30)


def test_resolved_text() -> None:
    text = render_resolved(make_alert("low", state=AlertState.RESOLVED, value=95.0), Recipient())
    assert "LOW resolved" in text and "95 mg/dL" in text and "not medical advice" in text


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(value=st.floats(20, 600), trend=st.one_of(st.none(), st.floats(-10, 10)), code=st.integers(1000, 9999),
       recipient=st.sampled_from(RECIPIENTS), kind=st.sampled_from(["urgent_low", "very_high"]))
def test_urgent_texts_fit_in_two_segments_for_any_value(value: float, trend: float | None, code: int,
                                                        recipient: Recipient, kind: str) -> None:
    text = render_alert(make_alert(kind, value=value, trend=trend), str(code), recipient)
    assert segments(text) <= 2, text


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_every_alert_kind_has_words_in_every_locale(locale: str) -> None:
    from monitor.messages import _KIND_WORDS
    from monitor.records import ALERT_KINDS

    assert sorted(ALERT_KINDS - set(_KIND_WORDS[locale])) == []


def test_forecast_kinds_say_forecast_not_below() -> None:
    text = render_alert(make_alert("urgent_low_soon"), "1234", Recipient("en", "mg/dL", "UTC"))
    assert "Forecast below 54" in text
    assert "URGENT LOW SOON" in text
