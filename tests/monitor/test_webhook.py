"""Webhook hardening: signatures (403), size limit (413), per-source rate limit (429), no stack traces (500)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.notify import signature_is_valid
from monitor.sms_sink import twilio_signature
from monitor.webhook import RateLimiter, create_webhook_app

TOKEN = "webhook-token-0123"


class Handlers:
    def __init__(self) -> None:
        self.replies: list[Mapping[str, str]] = []
        self.statuses: list[Mapping[str, str]] = []

    def on_reply(self, params: Mapping[str, str]) -> str | None:
        if params.get("Body") == "boom":
            raise RuntimeError("secret internals")
        self.replies.append(params)
        return "VIGIL: alert 4821 acknowledged <ok> & done"

    def on_status(self, params: Mapping[str, str]) -> None:
        self.statuses.append(params)


@pytest.fixture
def handlers() -> Handlers:
    return Handlers()


@pytest.fixture
async def client(handlers: Handlers) -> AsyncIterator[TestClient]:
    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=5.0, clock=lambda: now[0])
    app = create_webhook_app("https://vigil.example.org",
                             lambda url, p, s: signature_is_valid(TOKEN, url, p, s),
                             handlers.on_reply, handlers.on_status, limiter)
    async with TestClient(TestServer(app)) as c:
        yield c


def signed(path: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": twilio_signature(token, "https://vigil.example.org" + path, params)}


async def test_signed_reply_is_answered_with_escaped_twiml(client: TestClient, handlers: Handlers) -> None:
    params = {"From": "+8613800000001", "Body": "ACK 4821", "MessageSid": "SM1"}
    resp = await client.post("/twilio/sms", data=params, headers=signed("/twilio/sms", params))
    text = await resp.text()
    assert resp.status == 200 and "<Message>VIGIL: alert 4821 acknowledged &lt;ok&gt; &amp; done</Message>" in text
    assert handlers.replies == [params]


@pytest.mark.parametrize(("path", "headers"), [
    ("/twilio/sms", None), ("/twilio/sms", "wrong-token"), ("/twilio/status", "wrong-token"),
    ("/twilio/status", None),
])
async def test_forged_requests_get_403(client: TestClient, handlers: Handlers, path: str,
                                       headers: str | None) -> None:
    params = {"From": "+8613800000001", "Body": "ACK 4821", "MessageSid": "SM1", "MessageStatus": "delivered"}
    resp = await client.post(path, data=params, headers=signed(path, params, headers) if headers else {})
    assert resp.status == 403 and handlers.replies == [] and handlers.statuses == []


async def test_tampered_body_gets_403(client: TestClient) -> None:
    params = {"From": "+8613800000001", "Body": "ACK 4821"}
    headers = signed("/twilio/sms", params)
    resp = await client.post("/twilio/sms", data={**params, "Body": "ACK 9999"}, headers=headers)
    assert resp.status == 403


async def test_status_callback(client: TestClient, handlers: Handlers) -> None:
    params = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    resp = await client.post("/twilio/status", data=params, headers=signed("/twilio/status", params))
    assert resp.status == 204 and handlers.statuses == [params]


async def test_oversized_request_is_refused(client: TestClient) -> None:
    resp = await client.post("/twilio/sms", data={"Body": "x" * 40_000})
    assert resp.status == 413


async def test_rate_limit_per_source(client: TestClient) -> None:
    codes = [(await client.get("/healthz")).status for _ in range(8)]
    assert codes == [200] * 5 + [429] * 3


async def test_errors_never_leak_a_stack_trace(client: TestClient) -> None:
    params = {"From": "+8613800000001", "Body": "boom"}
    resp = await client.post("/twilio/sms", data=params, headers=signed("/twilio/sms", params))
    text = await resp.text()
    assert resp.status == 500 and text == "internal error"


@pytest.mark.parametrize(("gaps", "allowed"), [([0.0] * 6, 5), ([0.0] * 5 + [1.0], 6), ([2.0] * 10, 10)])
def test_token_bucket(gaps: list[float], allowed: int) -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=5.0, clock=lambda: now[0])
    count = 0
    for gap in gaps:
        now[0] += gap
        count += limiter.allow("1.2.3.4")
    assert count == allowed
    assert limiter.allow("5.6.7.8")
