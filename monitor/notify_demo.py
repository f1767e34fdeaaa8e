"""The SMS side of `vigil demo`: local Twilio sink printing texts, a demo care team, the notifier, a scripted ACK."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import requests

from monitor.identity import Member, StoredAssignment, open_store
from monitor.kafka_local import free_port
from monitor.pseudonym import patient_key
from monitor.sms_sink import SinkThread, SmsSink

ROOT = Path(__file__).resolve().parents[1]
SID, TOKEN, FROM = "AC" + "d" * 32, "vigil-demo-sink-token", "+15005550006"
DEMO_TEAM = (("nurse-li", "Li Na", "+8613800000001", "zh-CN", "mmol/L", "Asia/Shanghai", "primary"),
             ("nurse-chen", "Chen Wei", "+8613800000002", "en", "mg/dL", "Asia/Shanghai", "backup"),
             ("lead-wang", "Wang Fang", "+8613800000003", "en", "mg/dL", "Asia/Shanghai", "lead"))


class SmsDemo:
    """Context manager: `with SmsDemo(settings, bootstrap, namespace, home, enrolment_id) as sms: ...`."""

    def __init__(self, settings: Any, bootstrap: str, namespace: str, home: Path, enrolment_id: str,
                 escalate_minutes: float = 1.0) -> None:
        self.settings, self.bootstrap, self.namespace, self.home = settings, bootstrap, namespace, home
        self.enrolment_id = enrolment_id
        self.escalate_minutes = escalate_minutes
        self.port = free_port()
        self.sink = SinkThread(SmsSink(SID, TOKEN, webhook_url=f"http://127.0.0.1:{self.port}/twilio/sms",
                                       echo=True))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / f"{namespace}-notifier.log"

    def env(self) -> dict[str, str]:
        return {**os.environ, "VIGIL_BOOTSTRAP": self.bootstrap, "VIGIL_NAMESPACE": self.namespace,
                "VIGIL_HOME": str(self.home), "VIGIL_IDENTITY_DB": str(self.home / f"{self.namespace}-identity.sqlite"),
                "VIGIL_AUDIT_DB": str(self.home / f"{self.namespace}-audit.sqlite"),
                "VIGIL_NOTIFIER_HOME": str(self.home / f"{self.namespace}-notifier"),
                "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_FROM_NUMBER": FROM,
                "VIGIL_TWILIO_BASE_URL": self.sink.url, "VIGIL_WEBHOOK_PORT": str(self.port),
                "VIGIL_ESCALATE_MINUTES": str(self.escalate_minutes), "PYTHONUNBUFFERED": "1",
                "NO_PROXY": "127.0.0.1,localhost"}

    def __enter__(self) -> SmsDemo:
        self.sink.start()
        env = self.env()
        store = open_store(SimpleNamespace(home=self.home, pseudonym_secret=self.settings.pseudonym_secret), env)
        key = patient_key(self.enrolment_id, self.settings.pseudonym_secret)
        for member_id, name, phone, locale, unit, tz, role in DEMO_TEAM:
            store.add_member(Member(member_id, name, phone, locale, unit, tz))
            store.assign(StoredAssignment(key, role, member_id, None, tz))
        store.close()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "notifier"], cwd=ROOT, env=env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while "vigil notifier: ready" not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"notifier did not start; see {self.log_path}")
            time.sleep(0.2)
        print(f"[demo] notifier ready; texts go to a local Twilio sink at {self.sink.url}", flush=True)
        return self

    def scripted_ack(self, timeout_s: float = 30.0) -> str | None:
        """The primary nurse answers the first urgent text with "ACK <code>"; returns the confirmation text."""
        phone = DEMO_TEAM[0][2]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            urgent = [m for m in self.sink.sink.messages if m.to == phone and "ACK" in m.body and "紧急" in m.body]
            if urgent:
                code = re.search(r"ACK (\d{4})", urgent[0].body)
                if code:
                    print(f"[demo] nurse {DEMO_TEAM[0][0]} replies: ACK {code.group(1)}", flush=True)
                    resp = requests.post(self.sink.url + "/control/reply", timeout=30,
                                         json={"from": phone, "body": f"ACK {code.group(1)}", "to": FROM})
                    return str(resp.json().get("reply"))
            time.sleep(0.2)
        return None

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.sink.stop()
