"""Guideline-based diet advice per alert kind (design section 4): food and checks only, never a medicine or dose."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from monitor.records import Advice

LOCALES: Final = ("en", "zh-CN")

# (advice_id, {locale: text}). Short on purpose: urgent SMS must fit in two segments with everything else.
# Sources: ADA Standards of Care section 6 (15-15 rule, level 2 hypoglycaemia), ADA sick-day guidance.
_ADVICE: Final[Mapping[str, tuple[str, Mapping[str, str]]]] = {
    "urgent_low": ("diet.urgent_low.15-15.v1", {
        "en": "Contact pt now; call emergency services if they can't swallow or respond. "
              "If able: 15g fast carbs (juice/glucose), recheck 15 min, repeat if low.",
        "zh-CN": "立即联系患者，不能吞咽或无反应即叫急救；能吞咽则吃15克速效糖，15分钟复测，仍低重复。",
    }),
    "low": ("diet.low.15-15.v1", {
        "en": "15g fast carbs (4oz juice/glucose tabs), recheck in 15 min, repeat if still low; "
              "snack if next meal is over 1h away.",
        "zh-CN": "进食15克速效糖（120毫升果汁/葡萄糖片），15分钟后复测，仍低则重复；距下餐超1小时加餐。",
    }),
    "urgent_low_soon": ("diet.urgent_low_soon.v1", {
        "en": "Urgent low expected: contact pt now, recheck glucose; if below 70, 15g fast carbs, recheck 15 min.",
        "zh-CN": "立即联系患者复测；低于3.9则吃15克速效糖，15分钟复测。",
    }),
    "predicted_low": ("diet.predicted_low.v1", {
        "en": "Low expected soon: recheck glucose; if below 70, 15g fast carbs and recheck in 15 min.",
        "zh-CN": "预计即将偏低：请复测血糖；低于3.9则进食15克速效糖，15分钟后复测。",
    }),
    "rapid_fall": ("diet.rapid_fall.v1", {
        "en": "Falling fast: recheck glucose in 15 min; keep fast carbs at hand.",
        "zh-CN": "血糖快速下降：15分钟后复测；备好速效糖。",
    }),
    "high": ("diet.high.v1", {
        "en": "Drink water, avoid sugary drinks, follow the care plan's sick-day rules.",
        "zh-CN": "多喝水，避免含糖饮料，按护理方案的患病日规则处理。",
    }),
    "very_high": ("diet.very_high.v1", {
        "en": "Drink water, avoid sugary drinks; check ketones per the care plan; follow sick-day rules.",
        "zh-CN": "多喝水，避免含糖饮料；按护理方案检测酮体；遵循患病日规则。",
    }),
    "rapid_rise": ("diet.rapid_rise.v1", {
        "en": "Rising fast: drink water, avoid sugary drinks, recheck in 30 min.",
        "zh-CN": "血糖快速上升：多喝水，避免含糖饮料，30分钟后复测。",
    }),
    "no_data": ("care.no_data.v1", {
        "en": "No readings received: check the sensor and contact the patient.",
        "zh-CN": "未收到读数：请检查传感器并联系患者。",
    }),
}

_VITALS: Final = ("care.vitals.v1", {
    "en": "Check on the patient and follow the care plan.",
    "zh-CN": "请查看患者情况并遵循护理方案。",
})

# A reply, template or advice matching any of these would be a medication or dosing instruction: a red line.
FORBIDDEN: Final = re.compile(
    r"insulin|bolus|basal|\bdos(e|es|ing|age)\b|\bunits?\b|\bIU\b|medic(ation|ine)|\bdrugs?\b|\bpills?\b"
    r"|metformin|glucagon|sulfonylurea|inject|胰岛素|剂量|药|单位|注射",
    re.IGNORECASE,
)


def normalize_locale(locale: str | None) -> str:
    """Maps any locale tag to one we have words for (zh*, else en)."""
    return "zh-CN" if locale and locale.lower().startswith("zh") else "en"


def advice_for(kind: str, locale: str = "en") -> Advice | None:
    """The diet or care advice for an alert kind in a locale; None when there is nothing guideline-based to say."""
    loc = normalize_locale(locale)
    if kind in _ADVICE:
        advice_id, texts = _ADVICE[kind]
    elif kind.startswith("vitals"):
        advice_id, texts = _VITALS
    else:
        return None
    return Advice(advice_id=f"{advice_id}.{loc}", text=texts[loc])


def all_texts() -> list[str]:
    """Every advice text in every locale, for the red-line test."""
    out = [t for _, texts in _ADVICE.values() for t in texts.values()]
    out.extend(_VITALS[1].values())
    return out
