"""One transport-security section: env in, kafka-python/aiokafka/faust/librdkafka settings out, secrets hidden."""

from __future__ import annotations

import ssl

import pytest

from monitor.kafka_secure import make_certificates, secure_properties
from monitor.security import KafkaSecurity, SecurityConfigError, kafka_python_kwargs

PASSWORD = "s3cret-Pa55word-never-logged"


@pytest.fixture
def ca(tmp_path):
    return make_certificates(tmp_path / "tls")


@pytest.fixture
def sasl_env(ca):
    return {"VIGIL_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "VIGIL_KAFKA_SASL_USERNAME": "vigil",
            "VIGIL_KAFKA_SASL_PASSWORD": PASSWORD, "VIGIL_KAFKA_SSL_CAFILE": str(ca.ca_pem)}


def test_default_is_plaintext_with_no_credentials():
    sec = KafkaSecurity.from_env({})
    assert sec.kafka_python() == {"security_protocol": "PLAINTEXT"}
    assert sec.faust_options() == {}


def test_sasl_ssl_renders_for_kafka_python(sasl_env, ca):
    kwargs = KafkaSecurity.from_env(sasl_env).kafka_python()
    assert kwargs == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                      "sasl_plain_username": "vigil", "sasl_plain_password": PASSWORD,
                      "ssl_check_hostname": True, "ssl_cafile": str(ca.ca_pem)}


def test_sasl_ssl_renders_for_aiokafka_and_faust(sasl_env):
    sec = KafkaSecurity.from_env(sasl_env)
    context = sec.aiokafka()["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    creds = sec.faust_options()["broker_credentials"]
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.username == "vigil" and creds.password == PASSWORD


def test_sasl_ssl_renders_for_librdkafka(sasl_env, ca):
    assert KafkaSecurity.from_env(sasl_env).librdkafka() == {
        "security.protocol": "sasl_ssl", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "vigil",
        "sasl.password": PASSWORD, "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(ca.ca_pem)}


def test_librdkafka_plaintext_and_unchecked_host_names(sasl_env):
    assert KafkaSecurity.from_env({}).librdkafka() == {"security.protocol": "plaintext"}
    unchecked = KafkaSecurity.from_env(sasl_env | {"VIGIL_KAFKA_SSL_CHECK_HOSTNAME": "false"}).librdkafka()
    assert unchecked["ssl.endpoint.identification.algorithm"] == "none"


def test_password_file_is_read(tmp_path, sasl_env):
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    env = {k: v for k, v in sasl_env.items() if k != "VIGIL_KAFKA_SASL_PASSWORD"}
    env["VIGIL_KAFKA_SASL_PASSWORD_FILE"] = str(secret)
    assert KafkaSecurity.from_env(env).password == PASSWORD


def test_secrets_are_not_in_repr_or_errors(sasl_env):
    sec = KafkaSecurity.from_env(sasl_env)
    assert PASSWORD not in repr(sec) and PASSWORD not in str(sec)
    with pytest.raises(SecurityConfigError) as err:
        KafkaSecurity.from_env({**sasl_env, "VIGIL_KAFKA_SASL_MECHANISM": "PLAIN"})
    assert PASSWORD not in str(err.value)


@pytest.mark.parametrize(("change", "message"), [
    ({"VIGIL_KAFKA_SECURITY_PROTOCOL": "TLS"}, "SECURITY_PROTOCOL"),
    ({"VIGIL_KAFKA_SASL_MECHANISM": "PLAIN"}, "SASL_MECHANISM"),   # PLAIN sends the password itself
    ({"VIGIL_KAFKA_SASL_PASSWORD": ""}, "SASL_PASSWORD"),
    ({"VIGIL_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "SSL_CAFILE"),
    ({"VIGIL_KAFKA_SSL_CERTFILE": "/x.pem"}, "KEYFILE"),
])
def test_unworkable_settings_are_refused_naming_the_variable(sasl_env, change, message):
    with pytest.raises(SecurityConfigError, match=message):
        KafkaSecurity.from_env({**sasl_env, **change})


def test_env_round_trip_for_child_processes(sasl_env):
    sec = KafkaSecurity.from_env(sasl_env)
    assert KafkaSecurity.from_env(sec.to_env()) == sec


def test_explicit_kwargs_win_over_the_environment(monkeypatch, sasl_env):
    for key, value in sasl_env.items():
        monkeypatch.setenv(key, value)
    assert kafka_python_kwargs(None)["security_protocol"] == "SASL_SSL"
    assert kafka_python_kwargs({"security_protocol": "PLAINTEXT"}) == {"security_protocol": "PLAINTEXT"}


def test_local_ca_signs_a_broker_certificate_for_loopback(ca):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    key, cert, _extra = pkcs12.load_key_and_certificates(ca.keystore.read_bytes(), ca.store_password.encode())
    assert key is not None and cert is not None
    ca_cert = x509.load_pem_x509_certificate(ca.ca_pem.read_bytes())
    cert.verify_directly_issued_by(ca_cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert oct(ca.keystore.stat().st_mode & 0o777) == "0o600"
    context = ssl.create_default_context(cafile=str(ca.ca_pem))   # Python clients trust the CA file
    assert context.cert_store_stats()["x509_ca"] == 1


def test_broker_properties_have_only_an_encrypted_authenticated_client_listener(ca):
    props = secure_properties(19092, 19093, ca, "admin-pw")
    assert props["listeners"] == "SASL_SSL://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert "PLAINTEXT://" not in props["advertised.listeners"]
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert "TLSv1.1" not in props["ssl.enabled.protocols"]
