"""The only twilio importer: send SMS through the real twilio Client (retries, Retry-After), validate signatures."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

log = logging.getLogger("vigil.notify")

TWILIO_API: Final = "https://api.twilio.com"
# Twilio error codes that no retry can fix: invalid 'To', unsubscribed (STOP), not a mobile, region not enabled.
PERMANENT_CODES: Final = frozenset({"21211", "21610", "21614", "21408", "21612", "30003", "30005", "30006"})
MAX_RETRY_AFTER_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class SmsResult:
    """The outcome of one HTTP try: a message sid, or an error that is retryable or permanent."""

    ok: bool
    sid: str | None = None
    status: str | None = None
    http_status: int | None = None
    error_code: str | None = None
    retryable: bool = False
    retry_after_s: float | None = None
    detail: str = ""


class _RoutedHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """twilio's own HTTP client, with api.twilio.com rewritten to a base URL (the local sink) when configured."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self._local = threading.local()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API):]
        response = super().request(method, url, *args, **kwargs)
        self._local.headers = dict(response.headers or {})
        return response

    @property
    def last_headers(self) -> dict[str, str]:
        return getattr(self._local, "headers", {})


class TwilioSender:
    """Sends texts with the real twilio Client; credentials and the sender number come from the environment."""

    def __init__(self, account_sid: str, auth_token: str, from_number: str, *, base_url: str | None = None,
                 timeout_s: float = 5.0, max_tries: int = 5, sleep: Callable[[float], None] = time.sleep,
                 jitter: Callable[[], float] = random.random) -> None:
        self.from_number = from_number
        self.http = _RoutedHttpClient(base_url, timeout_s)
        self.client = Client(account_sid, auth_token, http_client=self.http)
        self.max_tries = max_tries
        self._sleep = sleep
        self._jitter = jitter

    def send_once(self, to: str, body: str, status_callback: str | None = None) -> SmsResult:
        try:
            kwargs: dict[str, Any] = {"to": to, "from_": self.from_number, "body": body}
            if status_callback:
                kwargs["status_callback"] = status_callback
            message = self.client.messages.create(**kwargs)
            return SmsResult(ok=True, sid=message.sid, status=message.status, http_status=201)
        except (TwilioRestException, TwilioServiceException) as exc:  # classic and RFC 9457 error bodies
            code = str(exc.code) if exc.code is not None else None
            status = int(exc.status)
            retryable = (status == 429 or status >= 500) and code not in PERMANENT_CODES
            retry_after = _retry_after(self.http.last_headers) if retryable else None
            return SmsResult(ok=False, http_status=status, error_code=code, retryable=retryable,
                             retry_after_s=retry_after,
                             detail=f"HTTP {status}: {getattr(exc, 'msg', None) or getattr(exc, 'title', '')}"[:200])
        except (TwilioException, OSError) as exc:  # requests' errors (refused, timeout) are OSErrors
            return SmsResult(ok=False, retryable=True, detail=f"{type(exc).__name__}"[:200])

    def send(self, to: str, body: str, status_callback: str | None = None,
             on_try: Callable[[int, SmsResult], None] | None = None) -> list[SmsResult]:
        """Tries up to max_tries: 429 and 5xx back off (Retry-After honoured); permanent errors stop at once."""
        results: list[SmsResult] = []
        for attempt in range(1, self.max_tries + 1):
            result = self.send_once(to, body, status_callback)
            results.append(result)
            if on_try is not None:
                on_try(attempt, result)
            if result.ok or not result.retryable or attempt == self.max_tries:
                break
            self._sleep(backoff_s(attempt, result.retry_after_s, self._jitter()))
        return results

    def find_sent(self, to: str, body: str, since: datetime) -> str | None:
        """Reconciles after a crash: the sid of a message with this body sent to `to` since `since`, if any."""
        try:
            for message in self.client.messages.list(to=to, date_sent_after=since.date(), limit=200):
                created = message.date_created
                if message.body == body and (created is None or created >= since - timedelta(seconds=2)):
                    return str(message.sid)
        except (TwilioException, OSError) as exc:
            log.warning("could not list sent messages for reconciliation: %s", type(exc).__name__)
            raise
        return None


def _retry_after(headers: dict[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, min(float(value), MAX_RETRY_AFTER_S))
    except ValueError:
        return None


def backoff_s(attempt: int, retry_after_s: float | None, jitter: float) -> float:
    """Retry-After when the server gives it, else 0.5 s doubling to 8 s, with up to 25 % jitter."""
    if retry_after_s is not None:
        return float(retry_after_s)
    base: float = min(8.0, 0.5 * 2.0 ** (attempt - 1))
    return base * (1 + 0.25 * jitter)


def signature_is_valid(auth_token: str, url: str, params: dict[str, str], signature: str | None) -> bool:
    """X-Twilio-Signature check with twilio's RequestValidator (HMAC-SHA1 over the URL and sorted params)."""
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))
