"""A local broker with SASL_SSL and SCRAM-SHA-512 users, and the self-signed CA it needs (`vigil kafka-secure`)."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from monitor.kafka_local import LocalKafka, LocalKafkaError
from monitor.security import KafkaSecurity

MECHANISM = "SCRAM-SHA-512"
ADMIN_USER = "vigil-broker"
CLIENT_USER = "vigil"


@dataclass(frozen=True)
class Certificates:
    """Where the CA and the broker's keystore and truststore live, and the store password."""

    ca_pem: Path
    keystore: Path
    truststore: Path
    store_password: str = field(repr=False)


def _private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def make_certificates(folder: Path, days: int = 365, now: dt.datetime | None = None) -> Certificates:
    """Makes a self-signed CA and a broker certificate for 127.0.0.1/localhost, as PKCS12 stores Java reads."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    now = now or dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vigil local CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    password = secrets.token_hex(16)
    encryption = serialization.BestAvailableEncryption(password.encode())
    ca_pem = folder / "ca.pem"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    keystore = folder / "broker.keystore.p12"
    _private(keystore, pkcs12.serialize_key_and_certificates(b"broker", key, cert, [ca_cert], encryption))
    truststore = folder / "broker.truststore.p12"
    _private(truststore, pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(ca_cert, b"vigil-ca")], encryption))
    # The CA key is not kept: nothing else is ever signed with it, so it cannot leak.
    return Certificates(ca_pem, keystore, truststore, password)


def secure_properties(port: int, controller_port: int, certs: Certificates, admin_password: str) -> dict[str, str]:
    """Broker settings for one SASL_SSL listener; the KRaft controller stays on loopback only."""
    jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required '
            f'username="{ADMIN_USER}" password="{admin_password}";')
    return {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(certs.keystore),
        "ssl.keystore.password": certs.store_password,
        "ssl.key.password": certs.store_password,
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.location": str(certs.truststore),
        "ssl.truststore.password": certs.store_password,
        "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        "ssl.client.auth": "none",
    }


@dataclass
class SecureLocalKafka(LocalKafka):
    """LocalKafka with TLS and SCRAM: users are added when the storage is formatted (kafka-storage --add-scram)."""

    client_password: str = field(default="", repr=False)
    admin_password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        saved = self._load_credentials()
        self.client_password = self.client_password or saved.get("client", "") or secrets.token_hex(16)
        self.admin_password = self.admin_password or saved.get("admin", "") or secrets.token_hex(16)

    @property
    def credentials_file(self) -> Path:
        return self.state_dir / "credentials.json"

    def _load_credentials(self) -> dict[str, str]:
        try:
            data = json.loads(self.credentials_file.read_text())
        except (OSError, ValueError):
            return {}
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def client_security(self, password: str | None = None) -> KafkaSecurity:
        """The client config for this broker (the one config section every vigil client reads)."""
        return KafkaSecurity(protocol="SASL_SSL", mechanism=MECHANISM, username=CLIENT_USER,
                             password=password if password is not None else self.client_password,
                             cafile=str(self.state_dir / "tls" / "ca.pem"))

    def format_args(self) -> tuple[str, ...]:
        return ("--add-scram", f"{MECHANISM}=[name={CLIENT_USER},password={self.client_password}]",
                "--add-scram", f"{MECHANISM}=[name={ADMIN_USER},password={self.admin_password}]")

    def up(self, timeout_s: float = 120.0, extra_properties: dict[str, str] | None = None) -> str:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)
        _private(self.credentials_file, json.dumps({"client": self.client_password,
                                                    "admin": self.admin_password}).encode())
        certs = make_certificates(self.state_dir / "tls")
        assert self.controller_port is not None
        props = secure_properties(self.port, self.controller_port, certs, self.admin_password)
        props.update(extra_properties or {})
        self.client_kwargs = self.client_security().kafka_python()
        bootstrap = super().up(timeout_s=timeout_s, extra_properties=props)
        self.properties_file.chmod(0o600)
        return bootstrap


def _cli(args: argparse.Namespace, settings: Any) -> int:
    broker = SecureLocalKafka(Path(args.dir or settings.home / f"kafka-secure-{args.port}"), port=args.port)
    try:
        if args.action == "certs":
            certs = make_certificates(Path(args.dir or settings.home / "tls"))
            print(f"vigil: CA certificate {certs.ca_pem}; broker keystore {certs.keystore}")
        elif args.action == "up":
            bootstrap = broker.up()
            env_file = broker.state_dir / "client.env"
            _private(env_file, "".join(f"export {k}={v}\n" for k, v in broker.client_security().to_env().items())
                     .encode() + f"export VIGIL_BOOTSTRAP={bootstrap}\n".encode())
            print(f"vigil: SASL_SSL broker ready at {bootstrap}; client settings: source {env_file}")
        elif args.action == "down":
            print("vigil: broker stopped" if broker.down() else "vigil: no broker was running")
    except (LocalKafkaError, subprocess.SubprocessError) as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    return 0


def add_parser(sub: Any) -> None:
    """Registers `vigil kafka-secure certs|up|down`."""
    parser = sub.add_parser("kafka-secure", help="a local broker with TLS and SASL/SCRAM-SHA-512 users")
    parser.add_argument("action", choices=["certs", "up", "down"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("VIGIL_KAFKA_PORT", "9092")))
    parser.add_argument("--dir", default=None, help="state folder (default $VIGIL_HOME/kafka-secure-<port>)")
    parser.set_defaults(func=_cli)
