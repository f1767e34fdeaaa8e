"""Harness for notifier integration tests: local Twilio sink, encrypted care team, a real `vigil notifier` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import requests
from cryptography.fernet import Fernet

from monitor.identity import Member, StoredAssignment, open_store
from monitor.kafka_local import free_port
from monitor.pseudonym import patient_key
from monitor.records import Alert, to_json
from monitor.sms_sink import SinkThread, SmsSink
from monitor.topics import ALERTS, namespaced
from tests.integration.kafka_helpers import ROOT, producer

SID, TOKEN, FROM = "AC" + "7" * 32, "integration-auth-token", "+15005550006"
SECRET = "vigil-test-secret-0123456789"
NURSES = {"nurse-a": ("+8613800000001", "zh-CN", "mmol/L", "Asia/Shanghai"),
          "nurse-b": ("+8613800000002", "en", "mg/dL", "UTC"),
          "lead-c": ("+8613800000003", "en", "mg/dL", "UTC"),
          "nurse-x": ("+8613800000009", "en", "mg/dL", "UTC")}  # on no patient's care team


@dataclass
class NotifierHarness:
    bootstrap: str
    namespace: str
    home: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    sink: SinkThread | None = None
    proc: subprocess.Popen[bytes] | None = None
    webhook_port: int = 0
    key: str = field(default_factory=lambda: Fernet.generate_key().decode())

    @property
    def log_path(self) -> Path:
        return self.home / "notifier.log"

    def setup(self, patients: list[str]) -> list[str]:
        """Starts the sink, writes the care team (encrypted) and returns the patients' keys."""
        self.webhook_port = free_port()
        self.sink = SinkThread(SmsSink(SID, TOKEN, webhook_url=self.webhook_url + "/twilio/sms",
                                       callback_gap_s=0.05)).start()
        settings = SimpleNamespace(home=self.home, pseudonym_secret=SECRET.encode())
        store = open_store(settings, {"VIGIL_IDENTITY_KEY": self.key})
        for member_id, (phone, locale, unit, tz) in NURSES.items():
            store.add_member(Member(member_id, member_id.upper(), phone, locale, unit, tz))
        keys = []
        for enrolment in patients:
            key = patient_key(enrolment, SECRET.encode())
            for role, member in (("primary", "nurse-a"), ("backup", "nurse-b"), ("lead", "lead-c")):
                store.assign(StoredAssignment(key, role, member, None, "UTC"))
            keys.append(key)
        store.close()
        return keys

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}"

    def env(self) -> dict[str, str]:
        assert self.sink is not None
        return {**os.environ, "VIGIL_BOOTSTRAP": self.bootstrap, "VIGIL_NAMESPACE": self.namespace,
                "VIGIL_HOME": str(self.home), "VIGIL_IDENTITY_KEY": self.key, "VIGIL_PSEUDONYM_SECRET": SECRET,
                "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_FROM_NUMBER": FROM,
                "VIGIL_TWILIO_BASE_URL": self.sink.url, "VIGIL_WEBHOOK_PORT": str(self.webhook_port),
                "VIGIL_NOTIFIER_TICK_S": "0.1", "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost",
                **self.env_extra}

    def start(self, timeout_s: float = 60.0) -> NotifierHarness:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "notifier"], cwd=ROOT, env=self.env(),
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"notifier exited {self.proc.returncode}:\n{self.tail()}")
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                if b"vigil notifier: ready" in fh.read():
                    return self
            time.sleep(0.1)
        raise TimeoutError(self.tail())

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.sink is not None:
            self.sink.stop()
            self.sink = None

    def publish(self, alerts: list[Alert]) -> None:
        prod = producer(self.bootstrap)
        for alert in alerts:
            prod.send(namespaced(ALERTS, self.namespace), key=alert.patient_key.encode(), value=to_json(alert))
        prod.flush()
        prod.close()

    def texts_to(self, member_id: str) -> list[str]:
        assert self.sink is not None
        phone = NURSES[member_id][0]
        return [m.body for m in self.sink.sink.messages if m.to == phone and m.direction == "outbound-api"]

    def reply(self, member_id_or_phone: str, body: str, *, forge: bool = False) -> dict[str, object]:
        assert self.sink is not None
        phone = NURSES[member_id_or_phone][0] if member_id_or_phone in NURSES else member_id_or_phone
        resp = requests.post(self.sink.url + "/control/reply", json={"from": phone, "body": body, "to": FROM,
                                                                     "forge": forge}, timeout=30)
        return dict(resp.json())

    def vigil(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=self.env(),
                              capture_output=True, text=True, timeout=60, check=False)
