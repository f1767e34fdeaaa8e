"""The worker's PM QoS request: the value written as the kernel reads it, held until closed, clear errors."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from monitor import cpu_latency
from monitor.cpu_latency import CpuLatencyError, CpuLatencyRequest


@pytest.mark.parametrize(("microseconds", "written"), [
    (0, b"\x00\x00\x00\x00"),
    (20, struct.pack("=i", 20)),
    (2_000_000_000, struct.pack("=i", 2_000_000_000)),
])
def test_the_request_is_one_native_32_bit_integer(tmp_path, microseconds, written):
    target = tmp_path / "cpu_dma_latency"
    target.touch()
    with CpuLatencyRequest(microseconds, target) as request:
        assert request.active
        assert target.read_bytes() == written
    assert not request.active


def test_close_twice_is_harmless(tmp_path):
    target = tmp_path / "cpu_dma_latency"
    target.touch()
    request = CpuLatencyRequest(5, target)
    request.close()
    request.close()
    assert not request.active


def test_a_missing_device_says_what_to_do(tmp_path):
    with pytest.raises(CpuLatencyError, match=r"needs write access to .*missing.*unset VIGIL_CPU_LATENCY_US"):
        CpuLatencyRequest(0, tmp_path / "missing")


def test_a_negative_request_is_refused_before_anything_is_opened(tmp_path):
    with pytest.raises(CpuLatencyError, match="zero or more microseconds, not -1"):
        CpuLatencyRequest(-1, tmp_path / "missing")


def test_the_default_is_the_kernels_pm_qos_file(monkeypatch, tmp_path):
    target = tmp_path / "qos"
    target.touch()
    monkeypatch.setattr(cpu_latency, "PM_QOS_PATH", target)
    with CpuLatencyRequest(7):
        assert target.read_bytes() == struct.pack("=i", 7)


DEVICE = Path("/dev/cpu_dma_latency")


@pytest.mark.skipif(not os.access(DEVICE, os.W_OK), reason="needs write access to /dev/cpu_dma_latency")
def test_the_kernel_honours_the_request_while_it_is_held():
    with CpuLatencyRequest(0):
        assert struct.unpack("=i", DEVICE.read_bytes()[:4]) == (0,)  # the machine's strictest request now
