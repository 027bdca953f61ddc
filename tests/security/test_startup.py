"""Safe by default: no authentication only on loopback and never in production; every mistake
in the trusted-issuers file stops the start with a message naming it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from cds_service import cli, gunicorn_conf, security
from cds_service.settings import ConfigurationError, Settings
from tests.security.conftest import (
    DISCOVERY,
    EHR_A,
    Keys,
    LogCapture,
    SigningKey,
    jwk_set,
    write_issuers,
)
from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ check_startup_safety


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_no_issuers_allowed_on_loopback(host: str) -> None:
    assert security.check_startup_safety(Settings(), host) is None


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "", "::", "192.168.1.5", "10.0.0.1", "cds.example.org"]
)
def test_no_issuers_refused_beyond_loopback(host: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        security.check_startup_safety(Settings(), host)
    message = str(err.value)
    assert "refusing to listen" in message
    assert "CDS_TRUSTED_ISSUERS_FILE" in message and "127.0.0.1" in message


@pytest.mark.parametrize("host", ["127.0.0.1", None])
def test_no_issuers_refused_in_production(host: str | None) -> None:
    with pytest.raises(ConfigurationError, match="CDS_ENV=production"):
        security.check_startup_safety(Settings(environment="production"), host)


def test_issuers_allow_any_bind(tmp_path: Path, keys: Keys) -> None:
    path = write_issuers(
        tmp_path / "i.json", [{"iss": EHR_A, "jwks": jwk_set(keys.a_es), "fhir_servers": []}]
    )
    for env in ("development", "production"):
        settings = Settings(environment=env, trusted_issuers_file=path)
        assert security.check_startup_safety(settings, "0.0.0.0") is not None


def test_create_app_refuses_production_without_issuers(
    make_secure_app: Callable[..., Flask],
) -> None:
    with pytest.raises(ConfigurationError, match="CDS_ENV=production"):
        make_secure_app(None, environment="production")


def test_auth_off_is_announced_and_in_readyz(
    make_secure_app: Callable[..., Flask], captured_logs: LogCapture
) -> None:
    client = make_secure_app(None).test_client()
    assert "authentication_off" in captured_logs.text
    checks = client.get("/readyz").get_json()["checks"]
    assert {"name": "authentication", "ok": True, "detail": security.AUTH_OFF_DETAIL} in checks
    assert security.AUTH_OFF_DETAIL == "authentication is off (development, loopback only)"
    assert client.get(DISCOVERY).status_code == 200


def test_auth_off_serves_only_loopback_peers(make_secure_app: Callable[..., Flask]) -> None:
    client = make_secure_app(None).test_client()
    remote = client.get(DISCOVERY, environ_base={"REMOTE_ADDR": "10.20.30.40"})
    assert remote.status_code == 401
    assert remote.headers["WWW-Authenticate"] == "Bearer"
    # A forwarded address does not make a remote peer local.
    spoofed = client.get(
        DISCOVERY,
        environ_base={"REMOTE_ADDR": "10.20.30.40"},
        headers={"X-Forwarded-For": "127.0.0.1"},
    )
    assert spoofed.status_code == 401
    assert client.get(DISCOVERY, environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": "10.20.30.40"}).status_code == 200


# ------------------------------------------------------------------------ gunicorn gate


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("127.0.0.1:8080", "127.0.0.1"),
        ("0.0.0.0:80", "0.0.0.0"),
        ("[::1]:8000", "::1"),
        ("[::]:8000", "::"),
        ("localhost", "localhost"),
        (":8080", ""),
        ("unix:/run/cds.sock", ""),
        ("fd://3", ""),
    ],
)
def test_gunicorn_bind_host(address: str, host: str) -> None:
    assert gunicorn_conf.bind_host(address) == host


def _fake_server(*binds: str) -> Any:
    logged: list[str] = []
    log = types.SimpleNamespace(error=logged.append)
    return types.SimpleNamespace(cfg=types.SimpleNamespace(bind=list(binds)), log=log)


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CDS_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "binds", [("0.0.0.0:8080",), ("127.0.0.1:8080", "[::]:8080"), ("unix:/x",)]
)
def test_gunicorn_on_starting_refuses_open_binds(
    monkeypatch: pytest.MonkeyPatch, binds: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    _clean_env(monkeypatch)
    server = _fake_server(*binds)
    with pytest.raises(SystemExit) as stop:
        gunicorn_conf.on_starting(server)
    assert stop.value.code == 2
    assert "CDS_TRUSTED_ISSUERS_FILE" in capsys.readouterr().err
    assert server.log.error.__self__  # the message also went to gunicorn's error log


def test_gunicorn_on_starting_accepts_loopback_or_issuers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, keys: Keys
) -> None:
    _clean_env(monkeypatch)
    gunicorn_conf.on_starting(_fake_server("127.0.0.1:8080", "[::1]:8080"))
    path = write_issuers(
        tmp_path / "i.json", [{"iss": EHR_A, "jwks": jwk_set(keys.a_es), "fhir_servers": []}]
    )
    monkeypatch.setenv("CDS_TRUSTED_ISSUERS_FILE", str(path))
    monkeypatch.setenv("CDS_ENV", "production")
    gunicorn_conf.on_starting(_fake_server("0.0.0.0:8080"))


def test_gunicorn_production_without_issuers_refused_even_on_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("CDS_ENV", "production")
    with pytest.raises(SystemExit):
        gunicorn_conf.on_starting(_fake_server("127.0.0.1:8080"))


def test_importing_gunicorn_is_not_running_under_it(
    monkeypatch: pytest.MonkeyPatch, make_secure_app: Callable[..., Flask]
) -> None:
    import gunicorn.arbiter  # noqa: F401

    monkeypatch.delenv("SERVER_SOFTWARE", raising=False)
    monkeypatch.setattr(security.startup, "_gunicorn_bind_gate", False)
    assert make_secure_app(None) is not None


def test_create_app_under_gunicorn_without_the_gate_refuses(
    monkeypatch: pytest.MonkeyPatch, make_secure_app: Callable[..., Flask]
) -> None:
    monkeypatch.setitem(sys.modules, "gunicorn.arbiter", types.ModuleType("gunicorn.arbiter"))
    monkeypatch.setenv("SERVER_SOFTWARE", "gunicorn/27.0.1")
    monkeypatch.setattr(security.startup, "_gunicorn_bind_gate", False)
    with pytest.raises(ConfigurationError, match="gunicorn_conf"):
        make_secure_app(None)
    monkeypatch.setattr(security.startup, "_gunicorn_bind_gate", True)
    assert make_secure_app(None) is not None


def _gunicorn(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    environment["CDS_DATA_DIR"] = str(tmp_path / "var")
    environment.update(env or {})
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), *args],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_real_gunicorn_with_the_gate_serves_loopback_with_auth_off(tmp_path: Path) -> None:
    port = free_port()
    proc = _gunicorn(
        tmp_path,
        "-c",
        "python:cds_service.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "tests.security.wsgi_stub:build()",
    )
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                body = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()
                break
            except requests.RequestException:
                time.sleep(0.2)
        assert body is not None, "gunicorn did not come up"
        assert {"name": "authentication", "ok": True, "detail": security.AUTH_OFF_DETAIL} in body[
            "checks"
        ]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_real_gunicorn_without_the_gate_does_not_serve(tmp_path: Path) -> None:
    port = free_port()
    proc = _gunicorn(tmp_path, "--bind", f"127.0.0.1:{port}", "tests.security.wsgi_stub:build()")
    try:
        output, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail("gunicorn kept running without the bind gate")
    assert proc.returncode != 0
    assert "gunicorn_conf" in output


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("dev", [[], ["--dev"]], ids=["gunicorn", "dev"])
def test_cli_serve_refuses_open_bind(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], dev: list[str]
) -> None:
    _clean_env(monkeypatch)
    started: list[Any] = []
    monkeypatch.setattr(Flask, "run", lambda self, **kw: started.append(kw))
    monkeypatch.setattr("cds_service.server.run", lambda *a, **kw: started.append(kw))
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "8080", *dev]) == cli.EXIT_USAGE
    assert started == []
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0" in err


def test_cli_serve_dev_starts_flask(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clean_env(monkeypatch)
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "var"))
    from tests.security.conftest import StubEngine

    monkeypatch.setattr("cds_service.app.build_engine", lambda settings: StubEngine())
    started: list[Any] = []
    monkeypatch.setattr(Flask, "run", lambda self, **kw: started.append(kw))
    assert cli.main(["serve", "--host", "127.0.0.1", "--port", "8080", "--dev"]) == cli.EXIT_OK
    assert started and started[0]["host"] == "127.0.0.1"


# ------------------------------------------------------------- the trusted-issuers file


def _entry(keys: Keys, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"iss": EHR_A, "jwks": jwk_set(keys.a_es), "fhir_servers": []}
    for name, value in fields.items():
        if value is ...:
            entry.pop(name, None)
        else:
            entry[name] = value
    return entry


def _private_jwk(key: SigningKey) -> dict[str, Any]:
    from jwt.algorithms import ECAlgorithm

    return {**ECAlgorithm.to_jwk(key.private, as_dict=True), "kid": key.kid}


def _short_rsa_jwk() -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    return {**RSAAlgorithm.to_jwk(weak, as_dict=True), "kid": "weak"}


BAD_FILES: list[tuple[str, Callable[[Keys], Any], str]] = [
    ("not-json", lambda k: "[{", "invalid JSON"),
    ("object", lambda k: {"iss": EHR_A}, "JSON array"),
    ("empty", lambda k: [], "lists no issuer"),
    ("no-iss", lambda k: [_entry(k, iss=...)], "'iss'"),
    ("both-key-sources", lambda k: [_entry(k, jwks_url="https://a.example/j")], "exactly one"),
    ("no-key-source", lambda k: [_entry(k, jwks=...)], "exactly one"),
    ("http-jwks-url", lambda k: [_entry(k, jwks=..., jwks_url="http://a.example/j")], "https"),
    ("jwks-url-query", lambda k: [_entry(k, jwks=..., jwks_url="https://a.example/j?x")], "query"),
    ("no-fhir-servers", lambda k: [_entry(k, fhir_servers=...)], "fhir_servers"),
    (
        "fhir-server-ftp",
        lambda k: [_entry(k, fhir_servers=["ftp://x.example/fhir"])],
        "http or https",
    ),
    ("typo", lambda k: [_entry(k, jwks_uri="https://x")], "unknown field"),
    ("private-key", lambda k: [_entry(k, jwks={"keys": [_private_jwk(k.a_es)]})], "private"),
    (
        "symmetric-key",
        lambda k: [_entry(k, jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]})],
        "kty",
    ),
    ("no-kid", lambda k: [_entry(k, jwks={"keys": [{**k.a_es.public_jwk, "kid": ""}]})], "kid"),
    (
        "hs-alg",
        lambda k: [_entry(k, jwks={"keys": [{**k.a_es.public_jwk, "alg": "HS256"}]})],
        "alg",
    ),
    (
        "alg-curve",
        lambda k: [_entry(k, jwks={"keys": [{**k.a_es.public_jwk, "alg": "ES256"}]})],
        "does not fit",
    ),
    ("short-rsa", lambda k: [_entry(k, jwks={"keys": [_short_rsa_jwk()]})], "too short"),
    ("dup-kid", lambda k: [_entry(k, jwks=jwk_set(k.a_es, k.a_es))], "more than once"),
    ("dup-iss", lambda k: [_entry(k), _entry(k)], "more than once"),
    ("dup-tenant", lambda k: [_entry(k, tenant="t"), _entry(k, tenant="t")], "more than once"),
    ("tenant-and-none", lambda k: [_entry(k, tenant="t"), _entry(k)], "more than once"),
    ("empty-tenant", lambda k: [_entry(k, tenant="")], "tenant"),
]


@pytest.mark.parametrize(("name", "content", "expected"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_issuers_file_refused_at_startup(
    tmp_path: Path,
    keys: Keys,
    make_secure_app: Callable[..., Flask],
    name: str,
    content: Callable[[Keys], Any],
    expected: str,
) -> None:
    data = content(keys)
    path = tmp_path / "issuers.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigurationError) as err:
        make_secure_app(None, trusted_issuers_file=path)
    message = str(err.value)
    assert str(path) in message
    assert expected in message, message


def test_missing_issuers_file(make_secure_app: Callable[..., Flask], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        make_secure_app(None, trusted_issuers_file=tmp_path / "absent.json")


def test_production_issuers_need_https_everywhere(
    make_secure_app: Callable[..., Flask], keys: Keys, tmp_path: Path
) -> None:
    for entry in (
        _entry(keys, fhir_servers=["http://127.0.0.1:9/fhir"]),
        _entry(keys, jwks=..., jwks_url="http://127.0.0.1:9/jwks.json"),
    ):
        path = write_issuers(tmp_path / "i.json", [entry])
        with pytest.raises(ConfigurationError, match="https"):
            make_secure_app(None, trusted_issuers_file=path, environment="production")


def test_bad_public_base_url_refused(make_secure_app: Callable[..., Flask]) -> None:
    with pytest.raises(ConfigurationError, match="CDS_PUBLIC_BASE_URLS"):
        make_secure_app(None, public_base_urls=("cds.example.org",))


@pytest.mark.parametrize("algs", [("HS256",), ("none",), ("ES384", "HS512"), ()])
def test_req_203_symmetric_or_none_algorithms_cannot_be_configured(
    make_secure_app: Callable[..., Flask], algs: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigurationError, match="CDS_JWT_ALGORITHMS"):
        make_secure_app(None, jwt_algorithms=algs)


def test_other_asymmetric_algorithms_can_be_added(
    make_secure_app: Callable[..., Flask], keys: Keys, tmp_path: Path
) -> None:
    import jwt as pyjwt

    from tests.security.conftest import BASE, bearer, claims

    path = write_issuers(tmp_path / "i.json", [_entry(keys, jwks=jwk_set(keys.a_rs))])
    client = make_secure_app(
        None, trusted_issuers_file=path, jwt_algorithms=("ES384", "RS384", "PS384")
    ).test_client()
    token = pyjwt.encode(
        claims(BASE + DISCOVERY),
        keys.a_rs.private,
        algorithm="PS384",
        headers={"kid": keys.a_rs.kid},
    )
    # The key's JWK says RS384: a PS384 signature with it is refused.
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 401
    plain = {k: v for k, v in keys.a_rs.public_jwk.items() if k != "alg"}
    path = write_issuers(tmp_path / "i.json", [_entry(keys, jwks={"keys": [plain]})])
    client = make_secure_app(
        None, trusted_issuers_file=path, jwt_algorithms=("ES384", "RS384", "PS384")
    ).test_client()
    token = pyjwt.encode(
        claims(BASE + DISCOVERY),
        keys.a_rs.private,
        algorithm="PS384",
        headers={"kid": keys.a_rs.kid},
    )
    assert client.get(DISCOVERY, headers=bearer(token)).status_code == 200


def test_settings_from_env_reads_security_variables(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "CDS_TRUSTED_ISSUERS_FILE": str(tmp_path / "i.json"),
            "CDS_JWT_ALGORITHMS": "ES384,PS256",
            "CDS_JWT_CLOCK_SKEW": "30",
            "CDS_JWT_MAX_LIFETIME": "600",
            "CDS_TRUST_PROXY_HEADERS": "true",
            "CDS_FHIR_SERVERS": "https://a.example/fhir/,https://b.example/r4",
            "CDS_PUBLIC_BASE_URLS": "https://cds.example.org/, https://cds2.example.org",
        }
    )
    assert settings.trusted_issuers_file == tmp_path / "i.json"
    assert settings.jwt_algorithms == ("ES384", "PS256")
    assert settings.jwt_clock_skew_seconds == 30
    assert settings.jwt_max_lifetime_seconds == 600
    assert settings.trust_proxy_headers is True
    assert settings.fhir_servers == ("https://a.example/fhir", "https://b.example/r4")
    assert settings.public_base_urls == ("https://cds.example.org", "https://cds2.example.org")
