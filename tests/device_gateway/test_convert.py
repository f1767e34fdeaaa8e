"""Decoded measurements to contract Readings: units, ids, specials, flags, context events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from device_gateway.convert import bit_names, to_readings
from device_gateway.parsing import (
    GLUCOSE_STATUS_BITS,
    BloodPressureMeasurement,
    CgmMeasurement,
    CgmSessionStartTime,
    DecodeError,
    GlucoseContext,
    GlucoseMeasurement,
    HeartRateMeasurement,
    Measurement,
    PlxContinuous,
    PlxSpotCheck,
    TemperatureMeasurement,
    WeightMeasurement,
    decode,
)
from device_gateway.sfloat import Medfloat, Special
from monitor.records import Reading, ReadingKind, Source, from_json, reading_id_for, to_json

DEV = "dev-meter-1"
PK = "pk_test"
T0 = datetime(2024, 3, 15, 8, 30, tzinfo=UTC)
RX = datetime(2024, 3, 15, 9, 0, tzinfo=UTC)


def convert(*ms: Measurement, session_start: datetime | None = None) -> list[Reading]:
    return to_readings(ms, patient_key=PK, device_id=DEV, received_at=RX, session_start=session_start)


def reading(kind: ReadingKind, value: float | None, unit: str, at: datetime, **kw: object) -> Reading:
    seq = kw.get("sequence")
    return Reading(
        reading_id=reading_id_for(DEV, kind.value, seq, at),  # type: ignore[arg-type]
        patient_key=PK,
        device_id=DEV,
        kind=kind,
        value=value,
        unit=unit,
        measured_at=at,
        received_at=RX,
        source=Source.BLE,
        **kw,  # type: ignore[arg-type]
    )


def test_glucose_kg_per_litre_from_bytes() -> None:
    # flags 0x1B ; seq 298 ; 2024-03-15 08:30 ; offset +10 ; 95e-5 kg/L ;
    # capillary plasma, finger ; battery low
    ms = decode(0x2A18, bytes.fromhex("1b 2a01 e807030f081e00 0a00 5fb0 12 0100"))
    assert convert(*ms) == [
        reading(
            ReadingKind.GLUCOSE,
            95.0,  # 95e-5 kg/L * 100000 = 95 mg/dL, exactly
            "mg/dL",
            T0 + timedelta(minutes=10),
            sequence=298,
            original_value=0.00095,
            original_unit="kg/L",
            flags=("device_battery_low",),
            context="sample=capillary_plasma;location=finger",
        )
    ]


def test_glucose_mol_per_litre() -> None:
    m = GlucoseMeasurement(1, T0, None, Medfloat(53, -4), "mol/L", 1, 15)
    assert convert(m) == [
        reading(
            ReadingKind.GLUCOSE,
            95.4848,  # 0.0053 mol/L = 5.3 mmol/L * 18.016
            "mg/dL",
            T0,
            sequence=1,
            original_value=0.0053,
            original_unit="mol/L",
            context="sample=capillary_whole_blood;location=location_not_available",
        )
    ]


@pytest.mark.parametrize(
    ("concentration", "status"),
    [
        (Medfloat(0, 0, Special.NAN), "nan"),
        (Medfloat(0, 0, Special.NRES), "nres"),
        (Medfloat(0, 0, Special.POSITIVE_INFINITY), "positive_infinity"),
        (Medfloat(0, 0, Special.NEGATIVE_INFINITY), "negative_infinity"),
        (Medfloat(0, 0, Special.RESERVED), "reserved"),
    ],
)
def test_special_values_become_reasons(concentration: Medfloat, status: str) -> None:
    (r,) = convert(GlucoseMeasurement(3, T0, None, concentration, "kg/L", 1, 1))
    assert (r.value, r.value_status, r.original_value, r.original_unit) == (None, status, None, "kg/L")


def test_glucose_without_concentration_keeps_the_device_fault() -> None:
    (r,) = convert(GlucoseMeasurement(4, T0, sensor_status=0x0408))  # strip insertion error, general fault
    assert r.value is None
    assert r.value_status == "not_reported"
    assert r.flags == ("strip_insertion_error", "general_device_fault")


CONTEXT = GlucoseContext(
    sequence=9,
    carbohydrate_id=3,
    carbohydrate_kg=Medfloat(60, -3),  # 60 g
    meal=2,
    medication_id=4,
    medication=Medfloat(40, -5),  # 0.0004 L = 0.4 mL = 40 U at U-100
    medication_units="L",
)


def test_context_takes_the_time_of_its_measurement() -> None:
    glucose = GlucoseMeasurement(9, T0, 5, Medfloat(110, -5), "kg/L", 2, 1, None, True)
    at = T0 + timedelta(minutes=5)
    g, carbs, insulin = convert(glucose, CONTEXT)
    assert g.kind is ReadingKind.GLUCOSE
    assert carbs == reading(
        ReadingKind.CARBS,
        60.0,
        "g",
        at,
        sequence=9,
        original_value=0.06,
        original_unit="kg",
        context="carbohydrate=dinner;meal=postprandial",
    )
    assert insulin == reading(
        ReadingKind.INSULIN,
        40.0,
        "U",
        at,
        sequence=9,
        original_value=0.0004,
        original_unit="L",
        context="long",
    )
    assert len({g.reading_id, carbs.reading_id, insulin.reading_id}) == 3


def test_context_alone_is_placed_at_arrival_and_says_so() -> None:
    carbs, insulin = convert(CONTEXT)
    assert carbs.measured_at == insulin.measured_at == RX
    assert carbs.flags == insulin.flags == ("time_from_received_at",)


def test_insulin_by_mass_is_recorded_without_a_unit_guess() -> None:
    (r,) = convert(GlucoseContext(1, medication_id=1, medication=Medfloat(1, -6), medication_units="kg"))
    assert (r.kind, r.value, r.value_status) == (ReadingKind.INSULIN, None, "unit_not_convertible")
    assert (r.original_value, r.original_unit, r.context) == (1e-6, "kg", "rapid")


def test_exercise_tester_and_hba1c_are_not_emitted() -> None:
    ctx = GlucoseContext(
        1, tester=1, health=5, exercise_duration_s=60, exercise_intensity_pct=50, hba1c_pct=Medfloat(65, -1)
    )
    assert convert(ctx) == []


CGM = CgmMeasurement(Medfloat(120, 0), 20, 0x02, 0x08, 0x01, Medfloat(-15, -1), Medfloat(90, 0))
START = datetime(2024, 3, 15, 6, 30, tzinfo=UTC)


def test_cgm_is_placed_at_session_start_plus_offset() -> None:
    assert convert(CGM, session_start=START) == [
        reading(
            ReadingKind.CGM,
            120.0,
            "mg/dL",
            START + timedelta(minutes=20),
            original_value=120.0,
            original_unit="mg/dL",
            components={"trend_mgdl_per_min": -1.5, "quality_pct": 90.0},
            flags=("device_battery_low", "calibration_required", "below_patient_low"),
        )
    ]


def test_cgm_session_start_from_the_batch() -> None:
    (r,) = convert(CgmSessionStartTime(START, 4, 4), CGM)
    assert r.measured_at == START + timedelta(minutes=20)


def test_cgm_without_session_start_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="session start") as info:
        convert(CGM)
    assert info.value.char_uuid == 0x2AA7
    assert decode(0x2AA7, bytes.fromhex(info.value.raw_hex)) == (CGM,)  # the raw bytes go to dead letter


def test_heart_rate() -> None:
    m = HeartRateMeasurement(80, False, False, 4660, (1024, 768))
    assert convert(m) == [
        reading(
            ReadingKind.HEART_RATE,
            80.0,
            "bpm",
            RX,
            components={
                "energy_expended_kj": 4660.0,
                "rr_mean_ms": 875.0,
                "rr_last_ms": 750.0,
                "rr_count": 2.0,
            },
            flags=("sensor_contact_lost",),
        )
    ]


def test_blood_pressure_in_kpa() -> None:
    # 16.0/10.7 kPa, MAP 12.5, pulse 72, user 2;
    # status: irregular pulse (bit 2) + pulse above range (bits 3-4 = 01)
    m = BloodPressureMeasurement(
        Medfloat(160, -1), Medfloat(107, -1), Medfloat(125, -1), "kPa", T0, Medfloat(72, 0), 2, 0x000C
    )
    assert convert(m) == [
        reading(
            ReadingKind.BLOOD_PRESSURE,
            120.0099,  # 16.0 * 7.50062
            "mmHg",
            T0,
            original_value=16.0,
            original_unit="kPa",
            components={
                "systolic": 120.0099,
                "diastolic": 80.2566,
                "mean_arterial": 93.7578,
                "pulse_rate": 72.0,
            },
            flags=("irregular_pulse", "pulse_rate_above_range"),
            context="user_id=2",
        )
    ]


def test_blood_pressure_special_components_are_flagged_not_numbers() -> None:
    m = BloodPressureMeasurement(Medfloat(120, 0), Medfloat(80, 0), Medfloat(0, 0, Special.NRES))
    (r,) = convert(m)
    assert r.components == {"systolic": 120.0, "diastolic": 80.0}
    assert r.flags == ("mean_arterial_nres",)
    assert r.measured_at == RX


def test_spo2_spot_check() -> None:
    m = PlxSpotCheck(Medfloat(98, 0), Medfloat(72, 0), T0, 0x0080, 0x000020, Medfloat(25, -1))
    assert convert(m) == [
        reading(
            ReadingKind.SPO2,
            98.0,
            "%",
            T0,
            components={"pulse_rate": 72.0, "pulse_amplitude_index": 2.5},
            flags=("validated_data", "low_perfusion"),
        )
    ]


def test_spo2_with_unset_clock_uses_arrival_time() -> None:
    (r,) = convert(PlxSpotCheck(Medfloat(98, 0), Medfloat(72, 0), T0, device_clock_not_set=True))
    assert (r.measured_at, r.flags) == (RX, ("device_clock_not_set",))


def test_spo2_continuous() -> None:
    m = PlxContinuous(
        Medfloat(97, 0), Medfloat(70, 0), Medfloat(96, 0), Medfloat(71, 0), measurement_status=0x2000
    )
    (r,) = convert(m)
    assert (r.value, r.unit, r.measured_at) == (97.0, "%", RX)
    assert r.components == {"pulse_rate": 70.0, "spo2_fast": 96.0, "pulse_rate_fast": 71.0}
    assert r.flags == ("measurement_unavailable",)


def test_temperature_fahrenheit_to_celsius() -> None:
    assert convert(TemperatureMeasurement(Medfloat(986, -1), "degF", T0, 6)) == [
        reading(
            ReadingKind.TEMPERATURE,
            37.0,
            "Cel",
            T0,
            original_value=98.6,
            original_unit="degF",
            context="mouth",
        )
    ]


def test_weight_imperial_to_kg() -> None:
    assert convert(WeightMeasurement(157.08, True, None, 1, 30.1, 68.4)) == [
        reading(
            ReadingKind.WEIGHT,
            71.2503,  # 157.08 lb * 0.45359237
            "kg",
            RX,
            original_value=157.08,
            original_unit="lb",
            components={"bmi": 30.1, "height_m": 1.7374},  # 68.4 in * 0.0254
            context="user_id=1",
        )
    ]


def test_weight_unsuccessful() -> None:
    (r,) = convert(WeightMeasurement(None))
    assert (r.value, r.value_status) == (None, "measurement_unsuccessful")


def test_reading_ids_are_deterministic_and_survive_the_wire() -> None:
    ms = decode(0x2A18, bytes.fromhex("1b 2a01 e807030f081e00 0a00 5fb0 12 0100"))
    first, again = convert(*ms), convert(*ms)
    assert first == again
    assert from_json(to_json(first[0]), Reading) == first[0]


def test_bit_names_name_undefined_bits() -> None:
    assert bit_names(0x8001, GLUCOSE_STATUS_BITS) == ("device_battery_low", "status_bit_15")
    assert bit_names(None, GLUCOSE_STATUS_BITS) == ()
