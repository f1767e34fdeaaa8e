"""The one config section for Kafka transport security (SASL/SCRAM and TLS), rendered for every client library."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS: Final = ("SCRAM-SHA-512", "SCRAM-SHA-256")
ENV_PREFIX: Final = "VIGIL_KAFKA_"


class SecurityConfigError(ValueError):
    """A transport-security setting that cannot work, naming the variable to fix (never its secret value)."""


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How every vigil client authenticates to and encrypts its traffic with the brokers."""

    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise SecurityConfigError(f"VIGIL_KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}")
        if self.uses_sasl:
            if self.mechanism not in MECHANISMS:
                raise SecurityConfigError(f"VIGIL_KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}")
            if not self.username or not self.password:
                raise SecurityConfigError(
                    "SASL needs VIGIL_KAFKA_SASL_USERNAME and VIGIL_KAFKA_SASL_PASSWORD (or ..._PASSWORD_FILE)")
        if self.uses_tls and self.cafile is not None and not Path(self.cafile).is_file():
            raise SecurityConfigError("VIGIL_KAFKA_SSL_CAFILE does not name a readable file")
        if (self.certfile is None) != (self.keyfile is None):
            raise SecurityConfigError("VIGIL_KAFKA_SSL_CERTFILE and VIGIL_KAFKA_SSL_KEYFILE go together")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never reach a log line (tests grep logs for them)."""
        return tuple(s for s in (self.password,) if s)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name, "").strip()
            return value or None

        password = get("SASL_PASSWORD")
        password_file = get("SASL_PASSWORD_FILE")
        if password is None and password_file is not None:
            try:
                password = Path(password_file).read_text().strip() or None
            except OSError as exc:
                raise SecurityConfigError(f"VIGIL_KAFKA_SASL_PASSWORD_FILE cannot be read: {exc.strerror}") from exc
        return cls(
            protocol=(get("SECURITY_PROTOCOL") or "PLAINTEXT").upper(),
            mechanism=(get("SASL_MECHANISM") or "SCRAM-SHA-512").upper(),
            username=get("SASL_USERNAME"),
            password=password,
            cafile=get("SSL_CAFILE"),
            certfile=get("SSL_CERTFILE"),
            keyfile=get("SSL_KEYFILE"),
            check_hostname=(get("SSL_CHECK_HOSTNAME") or "true").lower() not in ("0", "false", "no"),
        )

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces this config in a child process (the worker, the notifier)."""
        values = {
            "SECURITY_PROTOCOL": self.protocol, "SASL_MECHANISM": self.mechanism, "SASL_USERNAME": self.username,
            "SASL_PASSWORD": self.password, "SSL_CAFILE": self.cafile, "SSL_CERTFILE": self.certfile,
            "SSL_KEYFILE": self.keyfile, "SSL_CHECK_HOSTNAME": "true" if self.check_hostname else "false",
        }
        return {ENV_PREFIX + k: v for k, v in values.items() if v is not None}

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying TLS context (TLS 1.2 at least) trusting the configured CA, or None without TLS."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(cafile=self.cafile)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = self.check_hostname
        if self.certfile and self.keyfile:
            context.load_cert_chain(self.certfile, self.keyfile)
        return context

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's producer, consumer and admin client."""
        out: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_sasl:
            out.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                       sasl_plain_password=self.password)
        if self.uses_tls:
            out["ssl_check_hostname"] = self.check_hostname
            if self.cafile:
                out["ssl_cafile"] = self.cafile
            if self.certfile and self.keyfile:
                out.update(ssl_certfile=self.certfile, ssl_keyfile=self.keyfile)
        return out

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients (the batch worker; faust uses aiokafka underneath)."""
        out: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_sasl:
            out.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                       sasl_plain_password=self.password)
        if self.uses_tls:
            out["ssl_context"] = self.ssl_context()
        return out

    def librdkafka(self) -> dict[str, Any]:
        """librdkafka configuration properties (the rdkafka worker runtime, confluent-kafka)."""
        out: dict[str, Any] = {"security.protocol": self.protocol.lower()}
        if self.uses_sasl:
            out.update({"sasl.mechanism": self.mechanism, "sasl.username": self.username,
                        "sasl.password": self.password})
        if self.uses_tls:
            out["ssl.endpoint.identification.algorithm"] = "https" if self.check_hostname else "none"
            if self.cafile:
                out["ssl.ca.location"] = self.cafile
            if self.certfile and self.keyfile:
                out.update({"ssl.certificate.location": self.certfile, "ssl.key.location": self.keyfile})
        return out

    def faust_options(self) -> dict[str, Any]:
        """`broker_credentials` for faust.App, or {} for a PLAINTEXT broker."""
        if self.protocol == "PLAINTEXT":
            return {}
        import faust  # the worker's library; imported only when a secured broker is configured

        context = self.ssl_context()
        credentials: Any
        if self.uses_sasl:
            credentials = faust.SASLCredentials(username=self.username, password=self.password,
                                                ssl_context=context, mechanism=self.mechanism)
        else:
            credentials = faust.SSLCredentials(context)
        return {"broker_credentials": credentials}


def kafka_python_kwargs(security: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The given kafka-python security kwargs, else the ones configured in the environment."""
    return dict(security) if security is not None else KafkaSecurity.from_env().kafka_python()
