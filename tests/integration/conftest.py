"""One real Kafka broker for the whole integration session, on a free port with a fresh data folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.__main__ import RUNTIMES
from monitor.kafka_local import LocalKafka, free_port
from tests.integration.kafka_helpers import WorkerProcess, create_namespace, new_namespace


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """Starts a broker with `vigil kafka` machinery (jars cached outside git) and removes it afterwards."""
    port = free_port()
    controller = free_port()
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), port=port, controller_port=controller)
    broker.up()
    try:
        yield broker
    finally:
        broker.destroy()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalKafka) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def namespace(kafka_bootstrap: str) -> str:
    """A fresh topic namespace per test, so tests never see each other's records or worker groups."""
    ns = new_namespace()
    create_namespace(kafka_bootstrap, ns)
    return ns


@pytest.fixture(params=RUNTIMES)
def worker_runtime(request: pytest.FixtureRequest) -> str:
    """Every worker test runs against each runtime of `vigil worker` (rdkafka_worker, batch_worker, agents)."""
    return str(request.param)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing worker test shows the end of each worker's log: CI keeps no files, only this output."""
    report = yield
    if report.failed and call.when == "call":
        for worker in getattr(item, "vigil_workers", ()):
            if worker.log_path.exists():
                report.sections.append((f"worker log {worker.log_path.name} (last 60 lines)", worker.tail(60)))
    return report


@pytest.fixture
def make_worker(kafka_bootstrap: str, tmp_path: Path, worker_runtime: str,
                request: pytest.FixtureRequest) -> Iterator[object]:
    """Factory of real worker processes bound to this test's namespace; all are stopped at the end."""
    workers: list[WorkerProcess] = []
    request.node.vigil_workers = workers

    def factory(namespace: str, **env: str) -> WorkerProcess:
        # Scoring tests run without the consent gate; privacy tests pass vigil_consent_required="1".
        worker = WorkerProcess(kafka_bootstrap, namespace, tmp_path / f"worker-{len(workers)}.log",
                               env_extra={"VIGIL_CONSENT_REQUIRED": "0", "VIGIL_WORKER_RUNTIME": worker_runtime,
                                          **{k.upper(): v for k, v in env.items()}})
        workers.append(worker)
        return worker

    yield factory
    for worker in workers:
        if worker.proc is not None and worker.proc.poll() is None:
            worker.kill()


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    if "VIGIL_PSEUDONYM_SECRET" not in os.environ:  # scoped to the test, so no later test sees it
        monkeypatch.setenv("VIGIL_PSEUDONYM_SECRET", "vigil-test-secret-0123456789")
