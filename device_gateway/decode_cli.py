"""`vigil-gateway decode`: bytes from a device to pretty JSON, to debug real devices and drive tests."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any

import orjson

from device_gateway.parsing import DecodeError, decode
from device_gateway.sfloat import Medfloat


def _plain(obj: Any) -> Any:
    if isinstance(obj, Medfloat):
        out: dict[str, Any] = {"value": obj.value}
        if obj.special is not None:
            out["special"] = obj.special.value
        else:
            out.update(mantissa=obj.mantissa, exponent=obj.exponent)
        return out
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [_plain(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    return obj


def _payload(hex_payload: str) -> bytes:
    text = hex_payload.strip().lower().removeprefix("0x").replace(" ", "").replace(":", "").replace("-", "")
    return bytes.fromhex(text)


def decode_to_json(char_uuid: int, hex_payload: str) -> str:
    """Decodes a hex payload of a characteristic to pretty JSON; raises DecodeError (also for bad hex)."""
    try:
        payload = _payload(hex_payload)
    except ValueError as exc:
        raise DecodeError(char_uuid, hex_payload, f"not hex: {exc}") from exc
    measurements = decode(char_uuid, payload)
    doc = {
        "char": f"0x{char_uuid:04X}",
        "measurements": [{"type": type(m).__name__, **_plain(m)} for m in measurements],
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()


def main_decode(argv: Sequence[str] | None = None) -> int:
    """CLI entry: prints the JSON and returns 0, or prints a JSON error object and returns 2."""
    parser = argparse.ArgumentParser(prog="vigil-gateway decode", description=__doc__)
    parser.add_argument("--char", required=True, help="characteristic UUID, e.g. 0x2A18")
    parser.add_argument("--hex", required=True, dest="hex_payload", help="payload bytes in hex")
    args = parser.parse_args(argv)
    try:
        char_uuid = int(args.char, 16)
    except ValueError:
        print(orjson.dumps({"error": {"reason": f"not a hex UUID: {args.char!r}"}}).decode())
        return 2
    try:
        print(decode_to_json(char_uuid, args.hex_payload))
    except DecodeError as exc:
        error = {"char": f"0x{exc.char_uuid:04X}", "raw_hex": exc.raw_hex, "reason": exc.reason}
        print(orjson.dumps({"error": error}, option=orjson.OPT_INDENT_2).decode())
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main_decode())
