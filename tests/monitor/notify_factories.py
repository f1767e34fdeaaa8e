"""Factories of alerts, acks and times shared by the notification tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.records import Ack, AckAction, Alert, AlertState, Explanation, Severity

T0 = datetime(2026, 3, 1, 3, 12, tzinfo=UTC)
PK = "pk_" + "a1" * 16

KIND_SEVERITY = {"urgent_low": Severity.URGENT, "low": Severity.WARNING, "predicted_low": Severity.WARNING,
                 "high": Severity.WARNING, "very_high": Severity.URGENT, "rapid_fall": Severity.WARNING,
                 "rapid_rise": Severity.WARNING, "no_data": Severity.WARNING, "urgent_low_soon": Severity.URGENT,
                 "vitals_spo2_urgent": Severity.URGENT, "vitals_blood_pressure": Severity.URGENT}
KIND_VALUE = {"urgent_low": 48.0, "low": 64.0, "predicted_low": 82.0, "high": 212.0, "very_high": 388.0,
              "rapid_fall": 120.0, "rapid_rise": 190.0, "no_data": None, "urgent_low_soon": 58.0,
              "vitals_spo2_urgent": None, "vitals_blood_pressure": None}
KIND_THRESHOLD = {"urgent_low": 54.0, "low": 70.0, "predicted_low": 70.0, "high": 180.0, "very_high": 250.0,
                  "urgent_low_soon": 54.0}


def make_alert(kind: str = "urgent_low", *, state: AlertState = AlertState.OPEN, alert_id: str = "a_1",
               at: datetime = T0, recovering: bool = False, trend: float | None = -3.4,
               patient_key: str = PK, value: float | None = -1.0, episode_id: str = "e_1") -> Alert:
    v = KIND_VALUE[kind] if value == -1.0 else value
    thresholds = {"threshold_mgdl": KIND_THRESHOLD[kind]} if kind in KIND_THRESHOLD else {}
    return Alert(alert_id=alert_id, patient_key=patient_key, episode_id=episode_id, kind=kind,
                 severity=KIND_SEVERITY[kind], state=state, triggered_at=at, reading_ids=("r_1",),
                 explanation=Explanation(rule=kind, reason=f"{kind} rule", thresholds=thresholds,
                                         values={} if v is None else {"glucose_mgdl": v}, trend_mgdl_per_min=trend),
                 value_mgdl=v, recovering=recovering)


def make_ack(action: AckAction = AckAction.ACK, *, minutes: int | None = None, at: datetime = T0,
             alert_id: str = "a_1", who: str = "nurse-a") -> Ack:
    return Ack(ack_id=f"k_{action}_{at.isoformat()}", alert_id=alert_id, patient_key=PK, action=action,
               responder_ref=who, at=at, channel="sms", snooze_minutes=minutes)


def mins(n: float) -> timedelta:
    return timedelta(minutes=n)
