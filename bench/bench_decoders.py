"""Decoder throughput in readings/s (decode + to_readings) over a mix of real-shaped payloads.

Usage: python bench/bench_decoders.py [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from device_gateway.convert import to_readings
from device_gateway.parsing import decode

RX = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
START = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)

MIX: list[tuple[str, int, bytes]] = [
    ("glucose 0x2A18", 0x2A18, bytes.fromhex("1b 2a01 e807030f081e00 0a00 5fb0 12 0100")),
    ("context 0x2A34", 0x2A34, bytes.fromhex("33 0900 03 3cd0 02 04 28b0")),
    ("cgm 0x2AA7 x1", 0x2AA7, bytes.fromhex("0d e3 7800 1400 02 08 01 f1ff 5a00")),
    ("cgm 0x2AA7 x4", 0x2AA7, bytes.fromhex("06 00 7800 0f00") * 4),
    ("heart rate 0x2A37", 0x2A37, bytes.fromhex("16 50 0004 0003")),
    ("blood pressure 0x2A35", 0x2A35, bytes.fromhex("1e 7800 5000 5a00 e807030f081e00 4800 01 0400")),
    ("spo2 0x2A5E", 0x2A5E, bytes.fromhex("1f 6200 4800 e807030f081e00 8000 200000 19f0")),
    ("temperature 0x2A1C", 0x2A1C, bytes.fromhex("06 730100ff e807030f081e00 02")),
    ("weight 0x2A9D", 0x2A9D, bytes.fromhex("0e b036 e807030f081e00 01 e500 d606")),
]


def run(char: int, payload: bytes, seconds: float) -> tuple[int, float]:
    """Returns (readings produced, elapsed seconds) over about `seconds` of repeated decode + convert."""
    produced = 0
    start = time.perf_counter()
    while True:
        for _ in range(200):
            produced += len(
                to_readings(
                    decode(char, payload),
                    patient_key="pk_bench",
                    device_id="bench-device",
                    received_at=RX,
                    session_start=START,
                )
            )
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return produced, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.5, help="time per payload")
    args = parser.parse_args()
    total_readings, total_time = 0, 0.0
    print(f"{'payload':<24}{'bytes':>6}{'readings/s':>14}")
    for name, char, payload in MIX:
        produced, elapsed = run(char, payload, args.seconds)
        total_readings += produced
        total_time += elapsed
        print(f"{name:<24}{len(payload):>6}{produced / elapsed:>14,.0f}")
    print(f"{'mix (equal time)':<24}{'':>6}{total_readings / total_time:>14,.0f}")


if __name__ == "__main__":
    main()
