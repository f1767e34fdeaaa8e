"""`vigil worker --runtime rdkafka|batch`: the two loops over worker_core, with the model registry and consent gate
faust uses."""

from __future__ import annotations

import asyncio
import logging

from models.registry import worker_forecasters
from monitor import compiled
from monitor.config import Settings
from monitor.consent_feed import ConsentGate, gate_from_env
from monitor.worker_core import WorkerCore, utc_now

log = logging.getLogger(__name__)


def _core(loglevel: str) -> tuple[WorkerCore, ConsentGate | None]:
    logging.basicConfig(level=loglevel.upper(), format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    log.info("scoring hot path: %s", compiled.status().describe())
    gate = gate_from_env()
    return WorkerCore(clock=utc_now, forecaster_for=worker_forecasters(),
                      consent=gate.check if gate is not None else None,
                      monitored=gate.monitored if gate is not None else None), gate


async def _consent_loaded(gate: ConsentGate | None) -> None:
    """Waits once for the consent view; without it every reading is refused (fail closed), never scored."""
    if gate is not None and not await gate.wait_ready():
        log.error("consent state not loaded from %s: refusing readings (fail closed)", gate.view.topic)


def run_batch_worker(settings: Settings, loglevel: str = "warning") -> int:
    """One transactional producer per input partition on aiokafka (monitor/batch_worker.py)."""
    from monitor.batch_worker import BatchWorker, run

    core, gate = _core(loglevel)

    async def start() -> None:
        await _consent_loaded(gate)
        await run(BatchWorker(settings, core, clock=utc_now))

    asyncio.run(start())
    return 0


def run_rdkafka_worker(settings: Settings, loglevel: str = "warning") -> int:
    """One transactional producer per process on librdkafka (monitor/rdkafka_worker.py)."""
    from monitor.rdkafka_worker import RdkafkaWorker, run

    core, gate = _core(loglevel)
    asyncio.run(_consent_loaded(gate))
    return run(RdkafkaWorker(settings, core, clock=utc_now))
