"""The rdkafka runtime's one pure choice: which transactional id a worker process uses."""

from __future__ import annotations

import os
import socket

from monitor.rdkafka_worker import transactional_id


def test_a_worker_slot_names_the_transactional_id_so_a_restart_fences_its_predecessor():
    assert transactional_id("vigil-monitor", "w0") == "vigil-monitor-eos-w0"
    assert transactional_id("g", "w0") != transactional_id("g", "w1")


def test_without_a_slot_each_process_has_its_own_id():
    assert transactional_id("g", None) == f"g-eos-{socket.gethostname()}-{os.getpid()}"
