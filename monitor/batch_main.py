"""`vigil worker --runtime batch|rdkafka`: the batch workers, with the model registry and consent gate faust uses."""

from __future__ import annotations

import asyncio
import logging

from models.registry import worker_forecasters
from monitor.batch_worker import BatchWorker, run
from monitor.config import Settings
from monitor.consent_feed import gate_from_env
from monitor.worker_core import WorkerCore, utc_now

log = logging.getLogger(__name__)


def run_batch_worker(settings: Settings, loglevel: str = "warning") -> int:
    logging.basicConfig(level=loglevel.upper(), format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    gate = gate_from_env()
    core = WorkerCore(clock=utc_now, forecaster_for=worker_forecasters(),
                      consent=gate.check if gate is not None else None)

    async def start() -> None:
        if gate is not None and not await gate.wait_ready():
            log.error("consent state not loaded from %s: refusing readings (fail closed)", gate.view.topic)
        await run(BatchWorker(settings, core, clock=utc_now))

    asyncio.run(start())
    return 0


def run_rdkafka_worker(settings: Settings, loglevel: str = "warning") -> int:
    """`vigil worker --runtime rdkafka`: one transactional producer per process (monitor/rdkafka_worker.py)."""
    from monitor.rdkafka_worker import RdkafkaWorker
    from monitor.rdkafka_worker import run as run_rdkafka

    logging.basicConfig(level=loglevel.upper(), format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    gate = gate_from_env()
    core = WorkerCore(clock=utc_now, forecaster_for=worker_forecasters(),
                      consent=gate.check if gate is not None else None)
    if gate is not None and not asyncio.run(gate.wait_ready()):
        log.error("consent state not loaded from %s: refusing readings (fail closed)", gate.view.topic)
    run_rdkafka(RdkafkaWorker(settings, core, clock=utc_now))
    return 0
