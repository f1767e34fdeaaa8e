"""The bench's output: machine and version facts, the printed table, and the JSON file in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import sysconfig
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from monitor.kafka_local import KAFKA_VERSION

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("faust-streaming", "aiokafka", "kafka-python", "orjson", "mode-streaming")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "interpreter": interpreter(), "load_avg_at_start": [round(x, 2) for x in load]}


def interpreter() -> dict[str, Any]:
    """Which CPython build ran: on this box pyenv's build (libpython shared, no PGO or LTO) costs ~17 % more CPU a
    reading than Debian's static one, so results from two builds are not comparable (bench/README.md, seventeenth
    session)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        maps = None
    return interpreter_of(sys.executable, platform.python_build()[1], str(sysconfig.get_config_var("CONFIG_ARGS")),
                          maps)


def interpreter_of(executable: str, built: str, config_args: str, maps: str | None) -> dict[str, Any]:
    """The build facts of an interpreter: its configure flags for speed, and whether libpython is a shared library
    the process loaded (None when the process's memory map cannot be read)."""
    shared = None if maps is None else any("/libpython" in line for line in maps.splitlines())
    return {"executable": executable, "built": built, "libpython_shared": shared,
            "pgo": "--enable-optimizations" in config_args, "lto": "--with-lto" in config_args}


def describe_interpreter(facts: dict[str, Any]) -> str:
    """One line for the bench's header: two builds of one Python version differ by ~17 % a reading here."""
    linked = {True: "libpython shared", False: "libpython static", None: "libpython unknown"}[facts["libpython_shared"]]
    flags = " + ".join(name.upper() for name in ("pgo", "lto") if facts[name])
    return (f"{facts['executable']} (built {facts['built']}; {linked}; configure: "
            f"{flags or 'no --enable-optimizations or --with-lto'})")


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    found["kafka-broker"] = KAFKA_VERSION
    try:
        found["vigil-commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                               check=False, cwd=RESULTS.parent).stdout.strip()
    except OSError:
        found["vigil-commit"] = "unknown"
    return found


def write(result: dict[str, Any], tag: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"bench-{tag}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


def table(rows: list[tuple[str, str, str]]) -> str:
    """Three columns: what, the number, and the ratio or note."""
    width = max(len(r[0]) for r in rows)
    num = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b:>{num}}  {c}" for a, b, c in rows)
