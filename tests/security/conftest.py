"""Fixtures of the security tests: real keys, real signatures, JWK Sets served over HTTP.

Two trusted EHRs are configured:

* ``EHR_A`` publishes its JWK Set at a URL (a local HTTP server on 127.0.0.1) and signs with
  an ES384 and an RS384 key;
* ``EHR_B`` has its JWK Set inline in the issuers file (ES384).

An attacker has keys of its own and a JWK Set server of its own; the tests check that its
server is never contacted and its tokens never accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask.testing import FlaskClient

from cds_service.app import create_app
from tests.conftest import build_settings

SERVICE_ID = "osteopenia-management"
BASE = "http://localhost"  # what the Flask test client calls
DISCOVERY = "/cds-services"
SERVICE_PATH = f"/cds-services/{SERVICE_ID}"
FEEDBACK_PATH = f"{SERVICE_PATH}/feedback"
ANALYTICS_PATH = "/analytics"

EHR_A = "https://ehr-a.example.org"
EHR_B = "https://ehr-b.example.org"
ATTACKER = "https://attacker.example.net"

# Values that must never show up in a log line or an error body.
PATIENT_ID = "pat-sec-4711"
PATIENT_NAME = "Wilhelmina"
PATIENT_FAMILY = "Quackenbush"
ACCESS_TOKEN = "fhir-access-token-SECRET-7f3a9c"


# ------------------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if self.alg.startswith("ES"):
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    @property
    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _ec() -> Any:
    return ec.generate_private_key(ec.SECP384R1())


def _rsa() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Keys:
    a_es: SigningKey
    a_rs: SigningKey
    a_next: SigningKey  # A's next key, published only after a rotation
    b_es: SigningKey
    attacker: SigningKey
    attacker_same_kid: SigningKey  # the attacker's key under A's kid


@pytest.fixture(scope="session")
def keys() -> Keys:
    attacker = _ec()
    return Keys(
        a_es=SigningKey("a-es384-2026", "ES384", _ec()),
        a_rs=SigningKey("a-rs384-2026", "RS384", _rsa()),
        a_next=SigningKey("a-es384-2027", "ES384", _ec()),
        b_es=SigningKey("b-es384-1", "ES384", _ec()),
        attacker=SigningKey("attacker-1", "ES384", attacker),
        attacker_same_kid=SigningKey("a-es384-2026", "ES384", attacker),
    )


def jwk_set(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.public_jwk for k in keys]}


# ------------------------------------------------------------------------------- local HTTP


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server: _RecordingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner.record(self)
        route = self.server.owner.route_for(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, headers, body = route(self.path)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _RecordingServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: LocalHttpServer


Route = Callable[[str], tuple[int, dict[str, str], bytes]]


@dataclass
class LocalHttpServer:
    """An HTTP server on 127.0.0.1 with routes by path prefix; it records every request."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = _RecordingServer(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def record(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append(Recorded("GET", handler.path, dict(handler.headers.items())))

    def route_for(self, path: str) -> Route | None:
        for prefix, route in sorted(self.routes.items(), key=lambda kv: -len(kv[0])):
            if path.startswith(prefix):
                return route
        return None

    def hits(self, prefix: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path.startswith(prefix))

    def serve_json(self, prefix: str, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.routes[prefix] = lambda _p: (200, {"Content-Type": "application/json"}, body)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that counts the connections made to it and answers none."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.peers: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    def connections_so_far(self) -> int:
        """Connections made before this call. Accepts happen in order, so once a probe
        connection of our own has been accepted, every earlier one has been counted."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as probe:
            mine = probe.getsockname()
        deadline = time.monotonic() + 5
        while mine not in self.peers and time.monotonic() < deadline:
            time.sleep(0.01)
        assert mine in self.peers, "the listener stopped accepting"
        return len([p for p in self.peers[: self.peers.index(mine)]])

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.peers.append(addr)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@pytest.fixture(scope="session")
def jwks_server(keys: Keys) -> Iterator[LocalHttpServer]:
    server = LocalHttpServer()
    yield server
    server.close()


@pytest.fixture
def jwks(jwks_server: LocalHttpServer, keys: Keys) -> LocalHttpServer:
    """The JWK Set server in its initial state: A's keys, and the attacker's own set."""
    jwks_server.routes.clear()
    jwks_server.serve_json("/a/jwks.json", jwk_set(keys.a_es, keys.a_rs))
    jwks_server.serve_json("/attacker/jwks.json", jwk_set(keys.attacker))
    jwks_server.reset()
    return jwks_server


def fhir_bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def patient_resource() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "gender": "female",
        "birthDate": "1950-01-01",
        "name": [{"given": [PATIENT_NAME], "family": PATIENT_FAMILY}],
    }


@pytest.fixture
def fhir_server() -> Iterator[LocalHttpServer]:
    """A FHIR server of EHR A (on its allow-list): a Patient and empty searchsets."""
    server = LocalHttpServer()
    patient = json.dumps(patient_resource()).encode()
    empty = json.dumps(fhir_bundle()).encode()

    def answer(path: str) -> tuple[int, dict[str, str], bytes]:
        body = patient if path.startswith("/fhir/Patient/") else empty
        return 200, {"Content-Type": "application/fhir+json"}, body

    server.routes["/fhir/"] = answer
    yield server
    server.close()


@pytest.fixture
def counter() -> Iterator[ConnectionCounter]:
    listener = ConnectionCounter()
    yield listener
    listener.close()


# --------------------------------------------------------------------------------- the app


class StubEngine:
    """Returns one card; what the guideline says is not the subject of these tests."""

    def evaluate(self, prefetch: Any, *, patient_id: str, as_of: date) -> list[dict[str, Any]]:
        return [
            {
                "uuid": str(uuid.uuid4()),
                "summary": "Bone health: review",
                "indicator": "info",
                "source": {"label": "osteopenia-cds"},
                "extension": {"urn:osteopenia-cds:rule": "R1"},
            }
        ]


def write_issuers(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


@pytest.fixture
def issuer_entries(jwks: LocalHttpServer, keys: Keys, fhir_server: LocalHttpServer) -> list[Any]:
    return [
        {
            "iss": EHR_A,
            "jwks_url": jwks.url("/a/jwks.json"),
            "fhir_servers": [fhir_server.url("/fhir")],
        },
        {"iss": EHR_B, "jwks": jwk_set(keys.b_es), "fhir_servers": []},
    ]


@pytest.fixture
def make_secure_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    built: list[Flask] = []

    def factory(entries: list[dict[str, Any]] | None, **overrides: Any) -> Flask:
        if entries is not None:
            overrides["trusted_issuers_file"] = write_issuers(tmp_path / "issuers.json", entries)
        app = create_app(build_settings(tmp_path, **overrides), engine=StubEngine())
        app.testing = True
        built.append(app)
        return app

    yield factory
    for app in built:
        app.extensions["fhir_client"].close()
        close = getattr(app.extensions.get("store"), "close", None)
        if callable(close):
            close()


@pytest.fixture
def secure_app(make_secure_app: Callable[..., Flask], issuer_entries: list[Any]) -> Flask:
    return make_secure_app(issuer_entries)


@pytest.fixture
def client(secure_app: Flask) -> FlaskClient:
    return secure_app.test_client()


# ------------------------------------------------------------------------------- tokens


def make_token(
    key: SigningKey,
    *,
    iss: str = EHR_A,
    aud: Any = BASE + DISCOVERY,
    header: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    payload.update(claims)
    for name in drop:
        payload.pop(name, None)
    headers = {"kid": key.kid, "typ": "JWT"}
    headers.update(header or {})
    return jwt.encode(payload, key.private, algorithm=key.alg, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(payload).encode())
    return f"{head}.{body}.{_b64(signature)}"


def hs256_with_public_key(key: SigningKey, payload: dict[str, Any]) -> str:
    """The classic key-confusion forgery: HMAC keyed with the issuer's public key PEM."""
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    mac = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def claims(aud: str, iss: str = EHR_A) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": iss, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def hook_body(**overrides: Any) -> dict[str, Any]:
    from cds_service.discovery import find_service

    service = find_service(SERVICE_ID, "patient-view")
    assert service is not None
    prefetch: dict[str, Any] = {key: fhir_bundle() for key in service.prefetch}
    prefetch["patient"] = patient_resource()
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/sec-1", "patientId": PATIENT_ID},
        "prefetch": prefetch,
    }
    for name, value in overrides.items():
        if value is ...:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def valid_discovery(client: FlaskClient, key: SigningKey, iss: str = EHR_A) -> Any:
    return client.get(DISCOVERY, headers=bearer(make_token(key, iss=iss)))


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    body = response.get_json()
    assert body is not None, "401 must have a JSON body"
    text = json.dumps(body)
    # No detail: the same generic body for every failure.
    assert text == json.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "login", "diagnostics": "unauthorized"}],
        }
    )


class LogCapture(logging.Handler):
    """Every record of every logger of the service, formatted as it would be written."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        extra = {k: v for k, v in record.__dict__.items() if k not in _STD_ATTRS}
        if extra:
            text += " " + json.dumps(extra, default=str)
        if record.exc_info:
            text += " " + logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


_STD_ATTRS = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


@pytest.fixture
def captured_logs() -> Iterator[LogCapture]:
    """Every log record of the service while the test runs."""
    handler = LogCapture()
    targets = [logging.getLogger()]
    # Also each service logger itself: some (the request log) do not propagate to the root.
    # A record may then be seen twice, which does not matter for "never appears" checks.
    targets += [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name.startswith("cds_service")
    ]
    saved = [(t, t.level) for t in targets]
    for target in targets:
        target.addHandler(handler)
        target.setLevel(logging.DEBUG)
    yield handler
    for target, level in saved:
        target.removeHandler(handler)
        target.setLevel(level)
