"""A local Twilio-compatible SMS API for demos and tests: records texts, signs callbacks like Twilio, injects faults."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web

API = "/2010-04-01/Accounts/{sid}/Messages.json"


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's webhook signature: base64(HMAC-SHA1(token, url + each sorted key followed by its value))."""
    payload = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass
class SinkMessage:
    """One text as the 'phone network' saw it, with the receive time used by the latency benchmark."""

    sid: str
    to: str
    from_: str
    body: str
    status: str
    received_at: float
    date_created: str
    direction: str = "outbound-api"
    status_callback: str | None = None

    def resource(self, account_sid: str) -> dict[str, Any]:
        return {"sid": self.sid, "account_sid": account_sid, "to": self.to, "from": self.from_, "body": self.body,
                "status": self.status, "direction": self.direction, "date_created": self.date_created,
                "date_updated": self.date_created, "date_sent": self.date_created, "num_segments": "1",
                "num_media": "0", "api_version": "2010-04-01", "price": None, "error_code": None,
                "error_message": None, "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}.json"}


def _mask(phone: str) -> str:
    return phone[:4] + "****" + phone[-4:] if len(phone) > 8 else phone


class SmsSink:
    """The sink's state and HTTP handlers; faults are consumed in order, one per create request."""

    def __init__(self, account_sid: str, auth_token: str, *, webhook_url: str | None = None,
                 delay_s: float = 0.0, echo: bool = False, callback_gap_s: float = 0.02) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.webhook_url = webhook_url
        self.delay_s = delay_s
        self.echo = echo
        self.callback_gap_s = callback_gap_s
        self.messages: list[SinkMessage] = []
        self.faults: deque[str] = deque()
        self.invalid: set[str] = set()
        self.undeliverable: set[str] = set()
        self.requests = 0
        self._counter = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post(API, self.create)
        app.router.add_get(API, self.list_api)
        app.router.add_get("/messages", self.list_plain)
        app.router.add_post("/control/faults", self.control_faults)
        app.router.add_post("/control/reply", self.control_reply)
        app.router.add_post("/control/reset", self.control_reset)
        return app

    def _authorized(self, request: web.Request, sid: str) -> bool:
        header = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return sid == self.account_sid and hmac.compare_digest(header, expected)

    def _error(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status}
        return web.json_response(body, status=status, headers=headers)

    async def create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if not self._authorized(request, request.match_info["sid"]):
            return self._error(401, 20003, "Authenticate")
        form = await request.post()
        to, from_, body = str(form.get("To", "")), str(form.get("From", "")), str(form.get("Body", ""))
        if self.faults:
            fault = self.faults.popleft()
            if fault.startswith("429"):
                retry_after = fault.partition(":")[2] or "1"
                return self._error(429, 20429, "Too Many Requests", {"Retry-After": retry_after})
            if fault == "500":
                return self._error(500, 20500, "Internal Server Error")
            if fault == "21610-rfc9457":  # the newer Problem Details error body
                return web.json_response({"type": "https://www.twilio.com/docs/errors/21610",
                                          "title": "Attempt to send to unsubscribed recipient", "status": 400,
                                          "code": 21610, "detail": "unsubscribed"}, status=400)
            if fault == "21211":
                return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.invalid or not to.startswith("+"):
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not body:
            return self._error(400, 21602, "Message body is required.")
        now = datetime.now(UTC)
        message = SinkMessage(sid=f"SM{secrets.token_hex(16)}", to=to, from_=from_, body=body, status="queued",
                              received_at=time.time(), date_created=format_datetime(now, usegmt=True),
                              status_callback=str(form["StatusCallback"]) if "StatusCallback" in form else None)
        self.messages.append(message)
        if self.echo:
            print(f"[sms {now:%H:%M:%S}] to {_mask(to)} ({len(body)} chars):\n    {body}", flush=True)
        created = message.resource(self.account_sid)  # as created ("queued"), whatever callbacks do meanwhile
        if message.status_callback:
            task = asyncio.ensure_future(self._status_callbacks(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # recorded first: a client killed now has still 'sent' the text
        return web.json_response(created, status=201)

    async def _status_callbacks(self, message: SinkMessage) -> None:
        final = ("undelivered", "30003") if message.to in self.undeliverable else ("delivered", None)
        for status, error in (("sent", None), final):
            await asyncio.sleep(self.callback_gap_s)
            message.status = status
            params = {"MessageSid": message.sid, "SmsSid": message.sid, "AccountSid": self.account_sid,
                      "From": message.from_, "To": message.to, "MessageStatus": status, "SmsStatus": status,
                      "ApiVersion": "2010-04-01"}
            if error:
                params["ErrorCode"] = error
            assert message.status_callback is not None
            await self._post_signed(message.status_callback, params)

    async def _post_signed(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, url, params)}
        try:
            async with aiohttp.ClientSession() as session, session.post(url, data=params, headers=headers,
                                                                         timeout=aiohttp.ClientTimeout(5)) as resp:
                return resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 0, type(exc).__name__

    async def list_api(self, request: web.Request) -> web.Response:
        if not self._authorized(request, request.match_info["sid"]):
            return self._error(401, 20003, "Authenticate")
        to = request.query.get("To")
        found = [m.resource(self.account_sid) for m in reversed(self.messages) if to is None or m.to == to]
        uri = request.path_qs
        return web.json_response({"messages": found, "end": max(0, len(found) - 1), "first_page_uri": uri,
                                  "next_page_uri": None, "page": 0, "page_size": len(found) or 50,
                                  "previous_page_uri": None, "start": 0, "uri": uri})

    async def list_plain(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(m) for m in self.messages])

    async def control_faults(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.faults.extend(str(f) for f in data.get("faults", []))
        self.invalid.update(data.get("invalid", []))
        self.undeliverable.update(data.get("undeliverable", []))
        if "delay_s" in data:
            self.delay_s = float(data["delay_s"])
        return web.json_response({"queued_faults": list(self.faults)})

    async def control_reset(self, request: web.Request) -> web.Response:
        self.messages.clear()
        self.faults.clear()
        self.invalid.clear()
        self.undeliverable.clear()
        return web.json_response({"ok": True})

    async def control_reply(self, request: web.Request) -> web.Response:
        """A nurse answers: posts a signed incoming-message webhook, records the TwiML reply as a text back."""
        data = await request.json()
        url = data.get("webhook") or self.webhook_url
        if not url:
            return web.json_response({"error": "no webhook url configured"}, status=400)
        to = data.get("to") or next((m.from_ for m in reversed(self.messages) if m.to == data["from"]), "+10000000000")
        params = {"MessageSid": f"SM{secrets.token_hex(16)}", "SmsSid": "", "AccountSid": self.account_sid,
                  "From": data["from"], "To": to, "Body": data["body"], "NumMedia": "0", "NumSegments": "1",
                  "ApiVersion": "2010-04-01"}
        params["SmsSid"] = params["MessageSid"]
        token = self.auth_token if not data.get("forge") else "not-the-token"
        headers = {"X-Twilio-Signature": twilio_signature(token, url, params)}
        async with aiohttp.ClientSession() as session, session.post(url, data=params, headers=headers) as resp:
            status, text = resp.status, await resp.text()
        reply_text = None
        if status == 200 and text.strip():
            with contextlib.suppress(ET.ParseError):
                node = ET.fromstring(text).find("Message")
                reply_text = node.text if node is not None else None
        if reply_text:
            now = datetime.now(UTC)
            self.messages.append(SinkMessage(sid=f"SM{secrets.token_hex(16)}", to=data["from"], from_=to,
                                             body=reply_text, status="delivered", received_at=time.time(),
                                             date_created=format_datetime(now, usegmt=True),
                                             direction="outbound-reply"))
            if self.echo:
                print(f"[sms {now:%H:%M:%S}] reply to {_mask(data['from'])}: {reply_text}", flush=True)
        return web.json_response({"status": status, "reply": reply_text})


class SinkThread:
    """Runs a sink on its own event loop in a background thread (tests, benchmark, demo)."""

    def __init__(self, sink: SmsSink, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sink, self.host, self.port = sink, host, port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SinkThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.sink.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _cancel_callbacks(self) -> None:
        tasks = list(self.sink._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._cancel_callbacks(), self._loop).result(10)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def cli_sms_sink(args: Any, settings: Any) -> int:
    """`vigil sms-sink`: serve the local Twilio API and print texts as they arrive."""
    import os

    sink = SmsSink(os.environ.get("TWILIO_ACCOUNT_SID", "AC" + "0" * 32),
                   os.environ.get("TWILIO_AUTH_TOKEN", "vigil-local-sink-token"),
                   webhook_url=args.webhook, delay_s=args.delay_ms / 1000, echo=True)
    print(f"vigil: local Twilio sink on http://{args.host}:{args.port} (POST {API})", flush=True)
    web.run_app(sink.app(), host=args.host, port=args.port, print=None, access_log=None)
    return 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("sms-sink", help="local Twilio-compatible SMS API (demo and tests)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--webhook", default=None, help="incoming-message webhook URL for simulated replies")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="delay before answering each create")
    parser.set_defaults(func=cli_sms_sink)
