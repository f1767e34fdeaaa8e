"""Twilio webhooks (aiohttp): incoming replies and status callbacks, signature-checked, size- and rate-limited."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from aiohttp import web

log = logging.getLogger("vigil.webhook")

MAX_BODY_BYTES = 16 * 1024
SMS_PATH = "/twilio/sms"
STATUS_PATH = "/twilio/status"

Validator = Callable[[str, dict[str, str], str | None], bool]
ReplyHandler = Callable[[Mapping[str, str]], str | None]
StatusHandler = Callable[[Mapping[str, str]], None]


@dataclass
class RateLimiter:
    """A token bucket per source address: `rate` requests per second with bursts of `burst`."""

    rate: float = 5.0
    burst: float = 20.0
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, source: str) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[source] = (tokens, now)
            return False
        self._buckets[source] = (tokens - 1, now)
        if len(self._buckets) > 10_000:  # bounded memory under a spray of sources
            self._buckets.pop(next(iter(self._buckets)))
        return True


def twiml(text: str | None) -> web.Response:
    body = "<Response></Response>" if not text else f"<Response><Message>{escape(text)}</Message></Response>"
    return web.Response(text='<?xml version="1.0" encoding="UTF-8"?>' + body, content_type="text/xml")


def create_webhook_app(public_url: str, validator: Validator, on_reply: ReplyHandler, on_status: StatusHandler,
                       limiter: RateLimiter | None = None) -> web.Application:
    """The app; `public_url` is the base Twilio calls (signatures cover the URL Twilio used, not ours)."""
    limiter = limiter or RateLimiter()
    base = public_url.rstrip("/")

    @web.middleware
    async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        source = request.remote or "unknown"
        if not limiter.allow(source):
            log.warning("webhook rate limit hit by %s", source)
            return web.Response(status=429, text="too many requests", headers={"Retry-After": "1"})
        try:
            return await handler(request)
        except web.HTTPException as exc:
            return web.Response(status=exc.status, text=exc.reason)
        except Exception:
            log.exception("webhook handler failed")  # the trace goes to our log, never to the caller
            return web.Response(status=500, text="internal error")

    async def signed_params(request: web.Request) -> dict[str, str] | None:
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        if not validator(base + request.path_qs, params, request.headers.get("X-Twilio-Signature")):
            log.warning("forged or unsigned webhook request to %s from %s refused", request.path, request.remote)
            return None
        return params

    async def sms(request: web.Request) -> web.StreamResponse:
        params = await signed_params(request)
        if params is None:
            return web.Response(status=403, text="forbidden")
        reply = await asyncio.get_running_loop().run_in_executor(None, on_reply, params)
        return twiml(reply)

    async def status(request: web.Request) -> web.StreamResponse:
        params = await signed_params(request)
        if params is None:
            return web.Response(status=403, text="forbidden")
        await asyncio.get_running_loop().run_in_executor(None, on_status, params)
        return web.Response(status=204)

    async def health(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[guard])
    app.router.add_post(SMS_PATH, sms)
    app.router.add_post(STATUS_PATH, status)
    app.router.add_get("/healthz", health)
    return app
