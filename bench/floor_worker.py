"""A bench-only faust worker on the same app settings as vigil's, with trivial agents: the framework's floor.

VIGIL_BENCH_FLOOR=consume: parse each Reading and nothing else; =table: also write a table value of
VIGIL_BENCH_VALUE_BYTES bytes per reading (as the scoring agent writes the patient state); =table+alert: also send
one small record per reading to the alerts topic. Same exactly-once settings, so the difference to the real
worker is the cost of vigil's own code.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from monitor.app import create_app
from monitor.config import Settings
from monitor.records import Reading, from_json


def main() -> None:
    mode = os.environ.get("VIGIL_BENCH_FLOOR", "consume")
    size = int(os.environ.get("VIGIL_BENCH_VALUE_BYTES", "2400"))
    overrides = json.loads(os.environ.get("VIGIL_BENCH_OVERRIDES", "{}"))
    wiring = create_app(Settings.from_env(), **overrides)
    pad = b"x" * size

    @wiring.app.agent(wiring.readings, name="score-readings")
    async def floor(stream: Any) -> Any:
        async for event in stream.events():
            reading = from_json(event.value, Reading)
            if mode != "consume":
                wiring.state[reading.patient_key] = pad
            if mode == "table+alert":
                await wiring.alerts.send(key=reading.patient_key.encode(), value=b"{}")

    sys.argv = ["vigil", "worker", "--loglevel", "info", "--without-web"]
    wiring.app.main()


if __name__ == "__main__":
    main()
