"""Holds a CPU wake-up latency request through the kernel's PM QoS interface (/dev/cpu_dma_latency) while the
worker runs, so an idle core waits for the next fetch polling instead of halting (bench/README.md, sixteenth
session). The request is for the whole machine and ends when the file is closed (the process exits).

Off unless VIGIL_CPU_LATENCY_US is set: it trades power (and, in a VM, host CPU) for latency, as tuned's
latency-performance profile does; writing the file needs root or a rule that grants the worker's user access.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Final

PM_QOS_PATH: Final = Path("/dev/cpu_dma_latency")


class CpuLatencyError(Exception):
    """The request could not be made; the message says why and what to do."""


class CpuLatencyRequest:
    """An open PM QoS request: the kernel honours it until close() (or the process's end)."""

    def __init__(self, microseconds: int, path: Path | None = None) -> None:
        path = PM_QOS_PATH if path is None else path
        if microseconds < 0:
            raise CpuLatencyError(f"a CPU latency request must be zero or more microseconds, not {microseconds}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise CpuLatencyError(
                f"VIGIL_CPU_LATENCY_US={microseconds} needs write access to {path}: {exc.strerror} (run the worker "
                f"with that access, e.g. a udev rule for its group, or unset VIGIL_CPU_LATENCY_US)") from None
        try:
            os.write(fd, struct.pack("=i", microseconds))  # the kernel reads a native 32-bit integer
        except OSError as exc:
            os.close(fd)
            raise CpuLatencyError(f"{path} refused the request of {microseconds} us: {exc.strerror}") from None
        self.microseconds, self.path, self._fd = microseconds, path, fd

    @property
    def active(self) -> bool:
        return self._fd >= 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> CpuLatencyRequest:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
