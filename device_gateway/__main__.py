"""`vigil-gateway`: scan for health devices, pair them with consent, stream them, decode payloads."""

# bumble and kafka-python load only for the commands that need them (imports inside functions).

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from device_gateway.ble import BleOptions, pair_and_identify, scan
from device_gateway.enrolment import Consent, Enrolment, EnrolmentStore
from device_gateway.outbox import Outbox
from device_gateway.runtime import Gateway, run_gateway
from monitor.topics import DEADLETTER, READINGS

log = logging.getLogger("vigil-gateway")
SECRET_ENV = "VIGIL_PSEUDONYM_SECRET"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil-gateway",
        description="Home gateway for Bluetooth LE health devices: scan, pair with consent, stream to Kafka.",
    )
    parser.add_argument("--data-dir", default=os.environ.get("VIGIL_GATEWAY_DIR", "~/.vigil-gateway"),
                        help="where the enrolment store and the outbox live (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    def emulated(p: argparse.ArgumentParser) -> None:
        p.add_argument("--emulated", action="store_true",
                       help="use emulated wearables (bumble, in-process) instead of the Bluetooth adapter")
        p.add_argument("--scenario", help="CSV of minutes,glucose mg/dL for the emulated CGM and meter")

    p_scan = sub.add_parser("scan", help="list nearby devices that offer a health service")
    p_scan.add_argument("--timeout", type=float, default=5.0, help="seconds to scan (default %(default)s)")
    emulated(p_scan)

    p_pair = sub.add_parser("pair", help="pair a device and enrol it to a patient (consent required)")
    p_pair.add_argument("address", help="the device's Bluetooth address, as printed by `scan`")
    p_pair.add_argument("--patient", required=True,
                        help="the patient's enrolment id (stored only as a pseudonym)")
    p_pair.add_argument("--consent-by", help="name of the person recording the patient's consent; "
                        "without it the device is refused")
    emulated(p_pair)

    p_run = sub.add_parser("run", help="stream every enrolled device to Kafka through the durable outbox")
    p_run.add_argument("--bootstrap", default=os.environ.get("VIGIL_KAFKA", "127.0.0.1:9092"),
                       help="Kafka bootstrap servers (default %(default)s)")
    p_run.add_argument("--readings-topic", default=READINGS)
    p_run.add_argument("--deadletter-topic", default=DEADLETTER)
    p_run.add_argument("--duration", type=float,
                       help="stop after this many seconds (default: until signalled)")
    p_run.add_argument("--interval", type=float, default=1.0,
                       help="emulated wearables take a reading every this many seconds (default %(default)s)")
    p_run.add_argument("--readings", type=int,
                       help="emulated wearables stop measuring after this many readings each")
    emulated(p_run)

    sub.add_parser("decode", help="print one payload decoded as JSON: decode --char 0x2A18 --hex <payload>")
    return parser


@contextlib.asynccontextmanager
async def _ble(args: argparse.Namespace) -> AsyncIterator[tuple[BleOptions, object | None]]:
    if not args.emulated:
        yield BleOptions(), None
        return
    from device_gateway import bumble_backend
    from device_gateway.emulator.devices import default_wearables
    from device_gateway.emulator.scenario import DEFAULT, Scenario
    from device_gateway.emulator.world import EmulatedWorld

    scenario = Scenario.from_csv(args.scenario) if args.scenario else DEFAULT
    world = await EmulatedWorld(default_wearables(scenario)).start()
    bumble_backend.use_world(world)
    options = BleOptions(
        scanner_kwargs={"backend": bumble_backend.BumbleScanner},
        client_kwargs={"backend": bumble_backend.BumbleClient},
    )
    try:
        yield options, world
    finally:
        bumble_backend.use_world(None)
        await world.close()


def _secret() -> bytes:
    value = os.environ.get(SECRET_ENV, "")
    if len(value.encode()) < 16:
        raise SystemExit(f"set {SECRET_ENV} to a deployment secret of at least 16 bytes")
    return value.encode()


async def _scan(args: argparse.Namespace) -> int:
    async with _ble(args) as (options, world):
        expect = len(world.wearables) if world is not None else None  # type: ignore[attr-defined]
        found = await scan(options, args.timeout, expect)
    for f in found:
        services = ",".join(f"0x{s:04X}" for s in f.services)
        print(f"{f.address}  {f.name or '-':<16} services={services} rssi={f.rssi}")
    return 0


async def _pair(args: argparse.Namespace, store: EnrolmentStore) -> int:
    secret = _secret()
    consent = Consent(True, args.consent_by) if args.consent_by else None
    if consent is None:
        print("refused: record the patient's consent with --consent-by NAME", file=sys.stderr)
        return 2
    async with _ble(args) as (options, _world):
        info = await pair_and_identify(args.address, options)
    result = store.enrol(args.address, enrolment_id=args.patient, secret=secret, consent=consent, info=info)
    if not isinstance(result, Enrolment):
        print(f"refused: {result.reason}", file=sys.stderr)
        return 2
    print(f"enrolled {result.address} ({info.manufacturer} {info.model} {info.serial}) "
          f"as {result.device_id} for patient {result.patient_key}")
    return 0


async def _run(args: argparse.Namespace, store: EnrolmentStore, outbox: Outbox) -> int:
    from device_gateway.publisher import ReadingPublisher

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.duration:
        loop.call_later(args.duration, stop.set)
    gateway = Gateway(
        store, outbox, readings_topic=args.readings_topic, deadletter_topic=args.deadletter_topic
    )

    def publisher() -> ReadingPublisher:
        return ReadingPublisher(args.bootstrap, args.readings_topic, args.deadletter_topic, max_block_ms=5000)

    async with _ble(args) as (options, world):
        pacer = asyncio.create_task(_pace(world, args, stop)) if world is not None else None
        await run_gateway(gateway, options, publisher, stop)
        if pacer is not None:
            pacer.cancel()
    print(f"stopped: {gateway.counts}, outbox {outbox.stats()}")
    return 0


async def _pace(world: object, args: argparse.Namespace, stop: asyncio.Event) -> None:
    """Emulated wearables measure on a schedule (pacing for the demo, not a correctness wait)."""
    taken = 0
    while not stop.is_set() and (args.readings is None or taken < args.readings):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.interval)
        if stop.is_set():
            return
        await world.take_readings()  # type: ignore[attr-defined]
        taken += 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `vigil-gateway`; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "decode":
        from device_gateway.decode_cli import main_decode

        return main_decode(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data = Path(os.path.expanduser(args.data_dir))
    data.mkdir(parents=True, exist_ok=True)
    store = EnrolmentStore(data / "enrolment.db")
    try:
        if args.command == "scan":
            return asyncio.run(_scan(args))
        if args.command == "pair":
            return asyncio.run(_pair(args, store))
        outbox = Outbox(data / "outbox.db")
        try:
            return asyncio.run(_run(args, store, outbox))
        finally:
            outbox.close()
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main())
