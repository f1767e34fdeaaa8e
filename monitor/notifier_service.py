"""`vigil notifier`: alerts and acks in, SMS out through Twilio, status and replies back, every step audited."""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor import messages, notifier
from monitor.audit import AuditLog
from monitor.identity import IdentityStore, open_store
from monitor.notifier import Action, Escalation, OnDuty, Policy, Send, Track, Unreachable
from monitor.notifier_kafka import Incoming, NotifierKafka
from monitor.notify import SmsResult, TwilioSender, signature_is_valid
from monitor.notify_ledger import FAILED, SENT, Ledger, LedgerSend
from monitor.records import Ack, AckAction, Alert, DeadLetter, NotificationAttempt, RecordError, from_json, stable_id
from monitor.replies import ReplyKind, parse_reply
from monitor.roster import care_team, from_stored, on_duty
from monitor.webhook import STATUS_PATH, create_webhook_app

log = logging.getLogger("vigil.notifier")
FAILED_STATUSES = frozenset({"undelivered", "failed"})


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    """Where the notifier reads, sends and listens; from the environment (credentials never logged)."""

    bootstrap: str
    namespace: str | None
    home: Path
    account_sid: str
    auth_token: str
    from_number: str
    twilio_base_url: str | None
    public_url: str
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8088
    policy: Policy = field(default_factory=Policy)
    tick_s: float = 0.2
    send_workers: int = 8  # HTTP sends in parallel across alerts; 0 sends inline (tests)

    @property
    def group(self) -> str:
        return f"{self.namespace}.vigil-notifier" if self.namespace else "vigil-notifier"

    @classmethod
    def from_env(cls, settings: Any, env: Mapping[str, str] | None = None) -> NotifierConfig:
        env = os.environ if env is None else env
        port = int(env.get("VIGIL_WEBHOOK_PORT", "8088"))
        host = env.get("VIGIL_WEBHOOK_HOST", "127.0.0.1")
        policy = Policy(escalate_after=timedelta(minutes=float(env.get("VIGIL_ESCALATE_MINUTES", "10"))),
                        renotify_after=timedelta(minutes=float(env.get("VIGIL_RENOTIFY_MINUTES", "15"))),
                        max_attempts=int(env.get("VIGIL_MAX_ATTEMPTS", "8")))
        return cls(bootstrap=settings.bootstrap, namespace=settings.namespace,
                   home=Path(env.get("VIGIL_NOTIFIER_HOME") or settings.home / "notifier"),
                   account_sid=env.get("TWILIO_ACCOUNT_SID", ""), auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
                   from_number=env.get("TWILIO_FROM_NUMBER", ""),
                   twilio_base_url=env.get("VIGIL_TWILIO_BASE_URL") or None,
                   public_url=env.get("VIGIL_WEBHOOK_PUBLIC_URL", f"http://{host}:{port}"),
                   webhook_host=host, webhook_port=port, policy=policy,
                   tick_s=float(env.get("VIGIL_NOTIFIER_TICK_S", "0.2")),
                   send_workers=int(env.get("VIGIL_NOTIFIER_SEND_WORKERS", "8")))


class NotifierService:
    """The engine (one thread: Kafka, policy, sends) and the webhook handlers (called from aiohttp's executor)."""

    def __init__(self, config: NotifierConfig, *, kafka: NotifierKafka, sender: TwilioSender,
                 identity: IdentityStore, audit: AuditLog, ledger: Ledger,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.config, self.kafka, self.sender = config, kafka, sender
        self.identity, self.audit, self.ledger, self.clock = identity, audit, ledger, clock
        self.tracks: dict[str, Track] = {t.alert.alert_id: t for t in ledger.open_tracks()}
        self.failures: queue.Queue[tuple[str, str, bool]] = queue.Queue()
        self._pool = (ThreadPoolExecutor(config.send_workers, thread_name_prefix="sms-send")
                      if config.send_workers > 0 else None)
        self._engine_lock = threading.RLock()

    # ---- engine -------------------------------------------------------------------------------------------
    def recover(self) -> None:
        """After a restart: every unfinished send is looked up at the provider first, and sent only if absent."""
        for row in self.ledger.pending():
            member = self.identity.member(row.recipient)
            try:
                sid = (self.sender.find_sent(member.phone, row.body, datetime.fromisoformat(row.updated_at))
                       if member else None)
            except Exception as exc:  # the provider cannot be asked: a possible duplicate beats a missed alert
                log.warning("reconciliation of %s unavailable (%s); sending", row.key, type(exc).__name__)
                self.audit.append("reconcile_unavailable", row.alert_id, {"recipient": row.recipient,
                                                                          "attempt": row.attempt}, self.clock())
                sid = None
            if sid is not None:
                self.ledger.mark(row.key, SENT, sid)
                self.audit.append("send_reconciled", row.alert_id, {"recipient": row.recipient,
                                                                     "attempt": row.attempt, "sid": sid}, self.clock())
                self._attempt(row.alert_id, row.patient_key, row.recipient, row.attempt, "reconciled",
                              provider_id=sid)
                self._apply_early_statuses(sid)
                continue
            self._execute(row)

    def _duty(self, patient_key: str, now: datetime) -> OnDuty:
        return on_duty(from_stored(self.identity.assignments(patient_key)), now)

    def handle_alert(self, alert: Alert) -> None:
        now = self.clock()
        with self._engine_lock:
            self.audit.append("alert", alert.alert_id, {
                "kind": alert.kind, "severity": alert.severity.value, "state": alert.state.value,
                "triggered_at": alert.triggered_at.isoformat(), "value_mgdl": alert.value_mgdl,
                "rule": alert.explanation.rule, "model": alert.explanation.model_version,
                "recovering": alert.recovering, "patient_key": alert.patient_key}, now)
            for older in list(self.tracks.values()):
                superseded = notifier.on_superseded(older, alert)
                if superseded is not None:
                    self.audit.append("superseded", older.alert.alert_id, {"by": alert.alert_id,
                                                                           "kind": alert.kind}, now)
                    self._apply(superseded, [])
            track = self.tracks.get(alert.alert_id) or self.ledger.track(alert.alert_id)
            code = track.code if track else self.ledger.allocate_code(
                alert.alert_id, [messages.alert_code(alert.alert_id, i) for i in range(64)])
            duty = track.duty if track else self._duty(alert.patient_key, now)
            new_track, actions = notifier.on_alert(track, alert, duty, code, now, policy=self.config.policy)
            if new_track is not None:
                self._apply(new_track, actions)

    def handle_ack(self, ack: Ack) -> None:
        with self._engine_lock:
            track = self.tracks.get(ack.alert_id) or self.ledger.track(ack.alert_id)
            self.audit.append("ack_applied" if track else "ack_without_open_alert", ack.alert_id, {
                "action": ack.action.value, "responder": ack.responder_ref, "snooze_minutes": ack.snooze_minutes,
                "channel": ack.channel, "ack_at": ack.at.isoformat()}, self.clock())
            if track is not None:
                self._apply(notifier.on_ack(track, ack), [])

    def handle_failure(self, alert_id: str, recipient: str, permanent: bool) -> None:
        with self._engine_lock:
            track = self.tracks.get(alert_id)
            if track is not None:
                self._apply(*notifier.on_delivery_failure(track, recipient, permanent, self.clock()))

    def tick(self) -> None:
        now = self.clock()
        with self._engine_lock:
            for track in list(self.tracks.values()):
                new_track, actions = notifier.on_tick(track, now, self.config.policy)
                if new_track != track:
                    self._apply(new_track, actions)

    def _body(self, track: Track, send: Send) -> str:
        member = self.identity.member(send.recipient)
        recipient = messages.Recipient(member.locale, member.unit, member.tz) if member else messages.Recipient()
        if send.message == "resolved":
            return messages.render_resolved(track.alert, recipient)
        return messages.render_alert(track.alert, track.code, recipient)

    def _apply(self, track: Track, actions: list[Action]) -> None:
        """Persist first (track + planned sends in one transaction), audit, then send what is new."""
        sends = [a for a in actions if isinstance(a, Send)]
        fresh = self.ledger.save(track, [(s, self._body(track, s)) for s in sends])
        if track.done or track.exhausted:
            self.tracks.pop(track.alert.alert_id, None)
        else:
            self.tracks[track.alert.alert_id] = track
        for action in actions:
            if isinstance(action, Escalation):
                self.audit.append("escalation", action.alert_id, {"from": action.from_role, "to": action.to_role,
                                                                  "reason": action.reason.value}, action.at)
                self._attempt(action.alert_id, action.patient_key, action.to_role, 0, f"escalated_{action.reason}",
                              detail=f"{action.from_role} -> {action.to_role}")
            elif isinstance(action, Unreachable):
                log.error("alert %s: nobody left to notify (%s)", action.alert_id, action.reason)
                self.audit.append("unreachable", action.alert_id, {"reason": action.reason}, action.at)
        for send in fresh:
            row = self.ledger.send(send.key)
            if row is not None:
                if self._pool is not None:
                    self._pool.submit(self._execute_logged, row)
                else:
                    self._execute(row)

    def _execute_logged(self, row: LedgerSend) -> None:
        try:
            self._execute(row)
        except Exception:
            log.exception("send %s failed unexpectedly; it stays planned and is reconciled on restart", row.key)

    def _attempt(self, alert_id: str, patient_key: str, recipient: str, attempt: int, status: str, *,
                 provider_id: str | None = None, error_code: str | None = None, detail: str | None = None) -> None:
        now = self.clock()
        self.kafka.publish_attempt(NotificationAttempt(
            attempt_id="n_" + stable_id(alert_id, recipient, str(attempt), status, now.isoformat()),
            alert_id=alert_id, patient_key=patient_key, recipient_ref=recipient, attempt=attempt, status=status,
            at=now, provider_id=provider_id, error_code=error_code, detail=detail))

    def _execute(self, row: LedgerSend) -> None:
        member = self.identity.member(row.recipient)
        if member is None:
            self.ledger.mark(row.key, FAILED)
            self._after_failure(row, SmsResult(ok=False, error_code="unknown_member", detail="no such member"))
            return

        def on_try(try_no: int, result: SmsResult) -> None:
            outcome = "accepted" if result.ok else ("retry" if result.retryable else "error")
            self.audit.append("send", row.alert_id, {
                "recipient": row.recipient, "role": row.role, "attempt": row.attempt, "reason": row.reason,
                "try": try_no, "outcome": outcome, "sid": result.sid, "http": result.http_status,
                "error_code": result.error_code}, self.clock())
            self._attempt(row.alert_id, row.patient_key, row.recipient, row.attempt,
                          result.status or "queued" if result.ok else f"send_{outcome}", provider_id=result.sid,
                          error_code=result.error_code, detail=None if result.ok else result.detail)

        callback = self.config.public_url.rstrip("/") + STATUS_PATH
        results = self.sender.send(member.phone, row.body, status_callback=callback, on_try=on_try)
        final = results[-1]
        if final.ok:
            self.ledger.mark(row.key, SENT, final.sid)
            self._apply_early_statuses(final.sid)
        else:
            self.ledger.mark(row.key, FAILED)
            self._after_failure(row, final)

    def _apply_early_statuses(self, sid: str | None) -> None:
        for params in self.ledger.take_early_statuses(sid or ""):
            self.on_status(params)

    def _after_failure(self, row: LedgerSend, result: SmsResult) -> None:
        """Permanent errors and exhausted retries are never retried again: the engine moves up the chain."""
        self.audit.append("send_failed", row.alert_id, {"recipient": row.recipient, "attempt": row.attempt,
                                                        "error_code": result.error_code,
                                                        "permanent": not result.retryable}, self.clock())
        if row.reason != "resolved":
            self.failures.put((row.alert_id, row.recipient, not result.retryable))

    def drain_failures(self) -> None:
        """Delivery failures (from send threads and status callbacks) applied on the engine thread."""
        while True:
            try:
                self.handle_failure(*self.failures.get_nowait())
            except queue.Empty:
                return

    def process(self, incoming: Incoming) -> None:
        try:
            if incoming.topic.endswith("alerts.v1"):
                self.handle_alert(from_json(incoming.value, Alert))
            else:
                self.handle_ack(from_json(incoming.value, Ack))
        except RecordError as exc:
            self.kafka.publish_dead_letter(DeadLetter.of(incoming.value, source="notifier", stage="notifier",
                                                         reason=exc.reason, at=self.clock(), topic=incoming.topic))

    def close(self) -> None:
        """Waits for sends in flight; anything sent afterwards goes inline."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def run_engine(self, stop: threading.Event) -> None:
        self.recover()
        last_tick = 0.0
        while not stop.is_set():
            batch = self.kafka.poll(timeout_ms=100)
            for incoming in batch:
                self.process(incoming)
            self.drain_failures()
            now_s = self.clock().timestamp()
            if now_s - last_tick >= self.config.tick_s:
                self.tick()
                last_tick = now_s
            if batch:
                self.kafka.flush()
                self.kafka.commit()

    # ---- webhook handlers -------------------------------------------------------------------------------------
    def validate(self, url: str, params: dict[str, str], signature: str | None) -> bool:
        return signature_is_valid(self.config.auth_token, url, params, signature)

    def on_status(self, params: Mapping[str, str]) -> None:
        sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
        row = self.ledger.send_by_sid(sid)
        if row is None:
            # Either not ours, or the callback beat the create response: kept, applied once the sid is known.
            self.ledger.keep_early_status(sid, dict(params))
            return
        error = params.get("ErrorCode") or None
        self.audit.append("status", row.alert_id, {"recipient": row.recipient, "attempt": row.attempt,
                                                   "status": status, "error_code": error, "sid": sid}, self.clock())
        self._attempt(row.alert_id, row.patient_key, row.recipient, row.attempt, status, provider_id=sid,
                      error_code=error)
        if status in FAILED_STATUSES and row.reason != "resolved":
            self.failures.put((row.alert_id, row.recipient, False))

    def on_reply(self, params: Mapping[str, str]) -> str | None:
        now = self.clock()
        member_id = self.identity.member_id_by_phone(params.get("From", ""))
        if member_id is None:
            log.warning("reply from a number not on any care team refused")
            self.audit.append("reply_refused", "unknown-sender", {"reason": "unknown_number",
                                                                  "sid": params.get("MessageSid")}, now)
            return None
        member = self.identity.member(member_id)
        locale = member.locale if member else "en"
        reply = parse_reply(params.get("Body", ""))
        if reply.kind is ReplyKind.HELP:
            return messages.render_reply("help", locale)
        if reply.kind is ReplyKind.UNKNOWN or reply.code is None:
            return messages.render_reply("unknown", locale)
        found = self.ledger.alert_for_code(reply.code)
        if found is None:
            return messages.render_reply("no_such_alert", locale, reply.code)
        alert_id, patient_key = found
        if member_id not in care_team(from_stored(self.identity.assignments(patient_key)), patient_key):
            log.warning("reply from member %s, who is not on this patient's care team, refused", member_id)
            self.audit.append("reply_refused", alert_id, {"reason": "not_on_care_team", "member": member_id}, now)
            return messages.render_reply("no_such_alert", locale, reply.code)
        action = AckAction.ACK if reply.kind is ReplyKind.ACK else AckAction.SNOOZE
        ack = Ack(ack_id="k_" + stable_id(params.get("MessageSid", ""), alert_id), alert_id=alert_id,
                  patient_key=patient_key, action=action, responder_ref=member_id, at=now, channel="sms",
                  snooze_minutes=reply.minutes if action is AckAction.SNOOZE else None)
        self.kafka.publish_ack(ack)
        self.audit.append("reply", alert_id, {"member": member_id, "action": action.value,
                                              "snooze_minutes": ack.snooze_minutes}, now)
        if action is AckAction.ACK:
            return messages.render_reply("confirm_ack", locale, reply.code)
        return messages.render_reply("confirm_snooze", locale, reply.code, reply.minutes)


def build_service(settings: Any, config: NotifierConfig) -> NotifierService:
    missing = [n for n, v in (("TWILIO_ACCOUNT_SID", config.account_sid), ("TWILIO_AUTH_TOKEN", config.auth_token),
                              ("TWILIO_FROM_NUMBER", config.from_number)) if not v]
    if missing:
        raise SystemExit(f"vigil notifier: set {', '.join(missing)} in the environment")
    config.home.mkdir(parents=True, exist_ok=True)
    return NotifierService(
        config, kafka=NotifierKafka(config.bootstrap, config.namespace, config.group),
        sender=TwilioSender(config.account_sid, config.auth_token, config.from_number,
                            base_url=config.twilio_base_url),
        identity=open_store(settings), audit=AuditLog(Path(os.environ.get("VIGIL_AUDIT_DB")
                                                           or settings.home / "audit.sqlite")),
        ledger=Ledger(config.home / "ledger.sqlite"))


def cli_notifier(args: Any, settings: Any) -> int:
    """Runs the engine thread and the webhook server until SIGTERM or SIGINT."""
    from aiohttp import web

    logging.basicConfig(level=getattr(logging, args.loglevel.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("twilio.http_client", "kafka"):  # request dumps and client chatter stay out of the log
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = NotifierConfig.from_env(settings)
    try:  # bound before the Kafka clients take their ports from the ephemeral range, and before "ready" is printed
        listening = socket.create_server((config.webhook_host, config.webhook_port))
    except OSError as exc:
        raise SystemExit(f"vigil notifier: cannot listen on {config.webhook_host}:{config.webhook_port}: "
                         f"{exc.strerror} (set VIGIL_WEBHOOK_PORT)") from None
    try:
        service = build_service(settings, config)
    except BaseException:
        listening.close()
        raise
    stop = threading.Event()
    engine = threading.Thread(target=service.run_engine, args=(stop,), name="notifier-engine", daemon=True)
    app = create_webhook_app(service.config.public_url, service.validate, service.on_reply, service.on_status)

    async def started(_: web.Application) -> None:
        engine.start()
        print(f"vigil notifier: ready (webhook on {service.config.webhook_host}:{service.config.webhook_port})",
              flush=True)

    app.on_startup.append(started)
    try:
        web.run_app(app, sock=listening, print=None, access_log=None)
    finally:
        stop.set()
        engine.join(10)
        service.close()
        service.kafka.close()
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("notifier", help="care-team SMS notifier with its Twilio webhook")
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=cli_notifier)
