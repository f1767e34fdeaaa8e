"""Fixed, reviewed SMS templates per locale (carriers require registered templates), urgent ones <= 2 segments."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from monitor.diet import advice_for, normalize_locale
from monitor.records import MGDL_PER_MMOLL, Alert, Severity

URGENT_MAX_SEGMENTS: Final = 2

# GSM 03.38 basic set, and the extension set whose characters count twice.
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED: Final = frozenset("^{}\\[~]|€\f")

# Trend arrows: GSM-7 has no arrows, so en uses ASCII marks; zh-CN is UCS-2 anyway and uses real arrows.
_ARROWS: Final[Mapping[str, tuple[str, ...]]] = {
    "en": ("vv", "v", "v", "->", "^", "^", "^^"),
    "zh-CN": ("⇊", "↓", "↘", "→", "↗", "↑", "⇈"),
}

_KIND_WORDS: Final[Mapping[str, Mapping[str, str]]] = {
    "en": {"urgent_low": "URGENT LOW", "low": "LOW", "urgent_low_soon": "URGENT LOW SOON", "predicted_low": "LOW SOON",
           "high": "HIGH", "very_high": "VERY HIGH", "rapid_fall": "FALLING FAST", "rapid_rise": "RISING FAST",
           "no_data": "NO DATA", "catch_up": "CATCH-UP", "vitals_heart_rate": "HEART RATE",
           "vitals_spo2": "LOW SpO2", "vitals_spo2_urgent": "URGENT LOW SpO2", "vitals_blood_pressure": "BP CRISIS",
           "vitals_blood_pressure_low": "LOW BP", "vitals_temperature": "FEVER", "vitals_weight": "WEIGHT GAIN"},
    "zh-CN": {
        "urgent_low": "紧急低血糖",
        "low": "低血糖",
        "urgent_low_soon": "紧急低血糖将至",
        "predicted_low": "即将低血糖",
        "high": "高血糖",
        "very_high": "严重高血糖",
        "rapid_fall": "血糖快速下降",
        "rapid_rise": "血糖快速上升",
        "no_data": "无数据",
        "catch_up": "离线补传汇总",
        "vitals_heart_rate": "心率异常",
        "vitals_spo2": "血氧偏低",
        "vitals_spo2_urgent": "紧急血氧过低",
        "vitals_blood_pressure": "血压危象",
        "vitals_blood_pressure_low": "血压偏低",
        "vitals_temperature": "发热",
        "vitals_weight": "体重增加",
    },
}

_TEXT: Final[Mapping[str, Mapping[str, str]]] = {
    "en": {
        "alert": "VIGIL {level} pt {ref}: {value} {arrow} {time}. {what} {advice} "
                 "Reply ACK {code} or SNOOZE {code} 30. {disclaimer}",
        "resolved": "VIGIL pt {ref}: {kind} resolved at {time}{value_part}. No action needed. {disclaimer}",
        "confirm_ack": "VIGIL: alert {code} acknowledged. Thank you.",
        "confirm_snooze": "VIGIL: alert {code} snoozed for {minutes} min.",
        "help": "VIGIL: reply ACK <code> to acknowledge or SNOOZE <code> <minutes> to pause re-alerts. {disclaimer}",
        "unknown": "VIGIL: reply not understood. Send ACK <code> or SNOOZE <code> 30, or HELP.",
        "no_such_alert": "VIGIL: no open alert {code} for you. Send HELP for options.",
        "disclaimer": "Automated monitoring, not medical advice; follow your care plan.",
        "what_threshold": "Below {threshold}.",
        "what_above": "Above {threshold}.",
        "what_forecast": "Forecast below {threshold}.",
    },
    "zh-CN": {
        "alert": "VIGIL{level} 患者{ref} {value}{arrow} {time}，{what}{advice}"
                 "回复ACK {code}确认，SNOOZE {code} 30暂停。{disclaimer}",
        "resolved": "【VIGIL】患者{ref}：{kind}已于{time}缓解{value_part}。无需处理。{disclaimer}",
        "confirm_ack": "【VIGIL】警报{code}已确认，谢谢。",
        "confirm_snooze": "【VIGIL】警报{code}已暂停{minutes}分钟。",
        "help": "【VIGIL】回复ACK <代码>确认，或SNOOZE <代码> <分钟>暂停提醒。{disclaimer}",
        "unknown": "【VIGIL】无法识别回复。请发送ACK <代码>或SNOOZE <代码> 30，或HELP。",
        "no_such_alert": "【VIGIL】没有您的未处理警报{code}。发送HELP查看说明。",
        "disclaimer": "自动监测非医疗建议，遵循护理方案。",
        "what_threshold": "低于{threshold}。",
        "what_above": "高于{threshold}。",
        "what_forecast": "预计低于{threshold}。",
    },
}


@dataclass(frozen=True, slots=True)
class Recipient:
    """How one care-team member wants to read texts: language, glucose unit, time zone."""

    locale: str = "en"
    unit: str = "mg/dL"
    tz: str = "UTC"


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def segments(text: str) -> int:
    """How many SMS segments a text takes: GSM-7 (160, or 153 per part) or UCS-2 (70, or 67 per part)."""
    if is_gsm7(text):
        length = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        single, part = 160, 153
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if length <= single else -(-length // part)


def alert_code(alert_id: str, attempt_salt: int = 0) -> str:
    """A 4-digit reply code for an alert (1000-9999); the salt moves it on a collision with another open alert."""
    digest = hashlib.sha256(f"{alert_id}:{attempt_salt}".encode()).digest()
    return str(1000 + int.from_bytes(digest[:4], "big") % 9000)


def short_ref(patient_key: str) -> str:
    """A 4-character patient reference from the pseudonym: enough for the nurse's list, never the name."""
    digest = hashlib.sha256(patient_key.encode()).digest()
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:4])


def format_glucose(value_mgdl: float, unit: str, *, with_unit: bool = True) -> str:
    """Glucose in the reader's unit: "48 mg/dL" or "2.7 mmol/L" (contract values are mg/dL)."""
    if unit.lower().startswith("mmol"):
        number, label = f"{value_mgdl / MGDL_PER_MMOLL:.1f}", "mmol/L"
    else:
        number, label = f"{value_mgdl:.0f}", "mg/dL"
    return f"{number} {label}" if with_unit else number


def trend_arrow(trend_mgdl_per_min: float | None, locale: str) -> str:
    """Dexcom-like arrow bands: < -3, -3..-2, -2..-1, flat, 1..2, 2..3, > 3 mg/dL/min."""
    if trend_mgdl_per_min is None:
        return ""
    t = trend_mgdl_per_min
    index = 0 if t < -3 else 1 if t < -2 else 2 if t < -1 else 3 if t <= 1 else 4 if t <= 2 else 5 if t <= 3 else 6
    return _ARROWS[normalize_locale(locale)][index]


def _time(at: datetime, tz: str) -> str:
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime("%H:%M")


def _what(alert: Alert, words: Mapping[str, str], unit: str) -> str:
    """What happened, from the explanation's threshold: "Below 54 mg/dL." or "Above 250 mg/dL."."""
    thresholds = alert.explanation.thresholds
    value = next((thresholds[k] for k in ("threshold_mgdl", "urgent_low_mgdl", "low_mgdl", "high_mgdl",
                                          "very_high_mgdl") if k in thresholds), None)
    if value is None:
        return ""
    template = ("what_above" if alert.kind in ("high", "very_high", "rapid_rise")
                else "what_forecast" if alert.kind in ("predicted_low", "urgent_low_soon") else "what_threshold")
    return words[template].format(threshold=format_glucose(value, unit, with_unit=False))


def render_alert(alert: Alert, code: str, recipient: Recipient) -> str:
    """The alert SMS: level, short patient ref, value+unit+arrow, what happened, advice, how to reply, disclaimer."""
    loc = normalize_locale(recipient.locale)
    words = _TEXT[loc]
    advice = advice_for(alert.kind, loc)
    value = format_glucose(alert.value_mgdl, recipient.unit) if alert.value_mgdl is not None else "-"
    sep = " " if loc == "en" else ""
    text = words["alert"].format(
        level=_KIND_WORDS[loc].get(alert.kind, alert.kind.upper()),
        ref=short_ref(alert.patient_key),
        value=value,
        arrow=trend_arrow(alert.explanation.trend_mgdl_per_min, loc),
        time=_time(alert.triggered_at, recipient.tz),
        what=_what(alert, words, recipient.unit),
        advice=(advice.text + sep) if advice else "",
        code=code,
        disclaimer=words["disclaimer"],
    )
    return re.sub(r" {2,}", " ", text).strip()


def render_resolved(alert: Alert, recipient: Recipient) -> str:
    loc = normalize_locale(recipient.locale)
    words = _TEXT[loc]
    value_part = ""
    if alert.value_mgdl is not None:
        value_part = (f" ({format_glucose(alert.value_mgdl, recipient.unit)})" if loc == "en"
                      else f"（{format_glucose(alert.value_mgdl, recipient.unit)}）")
    return words["resolved"].format(ref=short_ref(alert.patient_key),
                                    kind=_KIND_WORDS[loc].get(alert.kind, alert.kind),
                                    time=_time(alert.triggered_at, recipient.tz), value_part=value_part,
                                    disclaimer=words["disclaimer"])


def render_reply(kind: str, locale: str, code: str = "", minutes: int | None = None) -> str:
    """Confirmation and help texts sent back to a replying nurse (kind: confirm_ack, confirm_snooze, help...)."""
    words = _TEXT[normalize_locale(locale)]
    return words[kind].format(code=code, minutes=minutes or 0, disclaimer=words["disclaimer"])


def all_templates() -> list[str]:
    """Every template text, for the red-line test."""
    return [t for words in _TEXT.values() for t in words.values()]


def max_segments_for(alert: Alert) -> int | None:
    """Urgent alerts must fit in 2 segments; others are not capped but stay short by construction."""
    return URGENT_MAX_SEGMENTS if alert.severity is Severity.URGENT else None
