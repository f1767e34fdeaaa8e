"""All runtime settings in one place, read from the environment with documented defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SECRET = "vigil-dev-secret-change-me-in-production"


class ConfigError(ValueError):
    """Raised for a setting that cannot work, with the variable name and what to do."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What every vigil process needs to know about its deployment."""

    bootstrap: str = "127.0.0.1:9092"
    namespace: str | None = None
    pseudonym_secret: bytes = DEFAULT_SECRET.encode()
    home: Path = Path(".vigil")
    worker_id: str = "vigil-monitor"
    worker_web_port: int = 6066
    kafka_port: int = 9092

    @property
    def worker_group(self) -> str:
        return f"{self.namespace}.{self.worker_id}" if self.namespace else self.worker_id

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        port_text = env.get("VIGIL_KAFKA_PORT", "9092")
        web_text = env.get("VIGIL_WORKER_WEB_PORT", "6066")
        try:
            port = int(port_text)
            web_port = int(web_text)
        except ValueError as exc:
            raise ConfigError(f"VIGIL_KAFKA_PORT / VIGIL_WORKER_WEB_PORT must be integers: {exc}") from exc
        secret = env.get("VIGIL_PSEUDONYM_SECRET", DEFAULT_SECRET).encode()
        if len(secret) < 16:
            raise ConfigError("VIGIL_PSEUDONYM_SECRET must be at least 16 characters")
        return cls(
            bootstrap=env.get("VIGIL_BOOTSTRAP", f"127.0.0.1:{port}"),
            namespace=env.get("VIGIL_NAMESPACE") or None,
            pseudonym_secret=secret,
            home=Path(env.get("VIGIL_HOME", ".vigil")),
            worker_id=env.get("VIGIL_WORKER_ID", "vigil-monitor"),
            worker_web_port=web_port,
            kafka_port=port,
        )
