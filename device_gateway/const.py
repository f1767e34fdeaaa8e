"""Bluetooth SIG 16-bit UUIDs of the health profiles vigil speaks, in one place so no module guesses them."""

from __future__ import annotations

from typing import Final

BASE_UUID_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"

# Services
GLUCOSE_SERVICE: Final = 0x1808
HEALTH_THERMOMETER_SERVICE: Final = 0x1809
DEVICE_INFORMATION_SERVICE: Final = 0x180A
HEART_RATE_SERVICE: Final = 0x180D
BLOOD_PRESSURE_SERVICE: Final = 0x1810
WEIGHT_SCALE_SERVICE: Final = 0x181D
CGM_SERVICE: Final = 0x181F
PULSE_OXIMETER_SERVICE: Final = 0x1822

HEALTH_SERVICES: Final = frozenset(
    {
        GLUCOSE_SERVICE,
        CGM_SERVICE,
        HEART_RATE_SERVICE,
        BLOOD_PRESSURE_SERVICE,
        PULSE_OXIMETER_SERVICE,
        HEALTH_THERMOMETER_SERVICE,
        WEIGHT_SCALE_SERVICE,
    }
)

# Characteristics
GLUCOSE_MEASUREMENT: Final = 0x2A18
TEMPERATURE_MEASUREMENT: Final = 0x2A1C
SERIAL_NUMBER_STRING: Final = 0x2A25
MODEL_NUMBER_STRING: Final = 0x2A24
FIRMWARE_REVISION_STRING: Final = 0x2A26
MANUFACTURER_NAME_STRING: Final = 0x2A29
GLUCOSE_MEASUREMENT_CONTEXT: Final = 0x2A34
BLOOD_PRESSURE_MEASUREMENT: Final = 0x2A35
HEART_RATE_MEASUREMENT: Final = 0x2A37
BODY_SENSOR_LOCATION: Final = 0x2A38
BLOOD_PRESSURE_FEATURE: Final = 0x2A49
GLUCOSE_FEATURE: Final = 0x2A51
RECORD_ACCESS_CONTROL_POINT: Final = 0x2A52
PLX_SPOT_CHECK_MEASUREMENT: Final = 0x2A5E
PLX_CONTINUOUS_MEASUREMENT: Final = 0x2A5F
PLX_FEATURES: Final = 0x2A60
WEIGHT_SCALE_FEATURE: Final = 0x2A9E
WEIGHT_MEASUREMENT: Final = 0x2A9D
CGM_MEASUREMENT: Final = 0x2AA7
CGM_FEATURE: Final = 0x2AA8
CGM_STATUS: Final = 0x2AA9
CGM_SESSION_START_TIME: Final = 0x2AAA
CGM_SESSION_RUN_TIME: Final = 0x2AAB
CGM_SPECIFIC_OPS_CONTROL_POINT: Final = 0x2AAC

# Characteristics that carry measurements, per service: what the gateway subscribes to.
MEASUREMENTS_BY_SERVICE: Final = {
    GLUCOSE_SERVICE: (GLUCOSE_MEASUREMENT, GLUCOSE_MEASUREMENT_CONTEXT),
    CGM_SERVICE: (CGM_MEASUREMENT,),
    HEART_RATE_SERVICE: (HEART_RATE_MEASUREMENT,),
    BLOOD_PRESSURE_SERVICE: (BLOOD_PRESSURE_MEASUREMENT,),
    PULSE_OXIMETER_SERVICE: (PLX_SPOT_CHECK_MEASUREMENT, PLX_CONTINUOUS_MEASUREMENT),
    HEALTH_THERMOMETER_SERVICE: (TEMPERATURE_MEASUREMENT,),
    WEIGHT_SCALE_SERVICE: (WEIGHT_MEASUREMENT,),
}


def uuid16_to_str(uuid16: int) -> str:
    """Expands a 16-bit SIG UUID to the 128-bit string form bleak and bumble use."""
    if not 0 <= uuid16 <= 0xFFFF:
        raise ValueError(f"not a 16-bit UUID: {uuid16:#x}")
    return f"0000{uuid16:04x}{BASE_UUID_SUFFIX}"


def str_to_uuid16(uuid: str) -> int:
    """Reads a 16-bit SIG UUID back from its 128-bit string (or a bare 4-hex-digit form)."""
    text = uuid.strip().lower()
    if len(text) == 4:
        return int(text, 16)
    if len(text) == 36 and text.startswith("0000") and text.endswith(BASE_UUID_SUFFIX):
        return int(text[4:8], 16)
    raise ValueError(f"not a Bluetooth SIG base UUID: {uuid!r}")
