"""`make demo` (python -m tests.support.demo): starts, serves the demo patients, stops."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tests.support.demo import SANDBOX_ISSUER, sandbox_url, write_issuer_file
from tests.support.demo_fixtures import DEMO_PATIENTS
from tests.support.fhir_server import node_executable

REPO_ROOT = Path(__file__).resolve().parents[2]
KID = "demo-test-key"


@pytest.fixture(scope="module")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def jwks_file(signing_key: ec.EllipticCurvePrivateKey, tmp_path_factory: pytest.TempPathFactory):
    jwk = json.loads(ECAlgorithm.to_jwk(signing_key.public_key()))
    jwk.update({"kid": KID, "alg": "ES384", "use": "sig"})
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk]}))
    return path


class DemoProcess:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C"):
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 90.0) -> str:
        assert self._ready.wait(timeout), "the demo did not start"
        return "\n".join(self.lines)

    def finish(self, timeout: float = 30.0) -> str:
        self.process.wait(timeout)
        self._reader.join(timeout)
        return "\n".join(self.lines)


@pytest.fixture(scope="module")
def demo(jwks_file: Path) -> Iterator[DemoProcess]:
    if node_executable() is None:
        pytest.skip("node is not installed: the demo's FHIR server needs it")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.demo",
            "--port",
            "0",
            "--sandbox-jwks",
            str(jwks_file),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "SANDBOX_"))},
            "CDS_DATA_DIR": str(jwks_file.parent),
        },
    )
    running = DemoProcess(process)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _token(key: ec.EllipticCurvePrivateKey, audience: str) -> str:
    now = int(time.time())
    claims = {"iss": SANDBOX_ISSUER, "aud": audience, "iat": now, "exp": now + 300}
    claims["jti"] = str(uuid.uuid4())
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})


def _urls(output: str) -> tuple[str, str]:
    discovery = re.search(r"CDS service\s+(\S+)", output)
    fhir = re.search(r"FHIR server\s+(\S+)", output)
    assert discovery and fhir, output
    return discovery.group(1), fhir.group(1)


def test_demo_serves_every_patient_with_the_sandbox_issuer_and_stops_on_ctrl_c(
    demo: DemoProcess, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    output = demo.wait_ready()
    discovery_url, fhir_url = _urls(output)
    assert "authentication on" in output
    for patient_id in ("demo-osteopenia-new", "demo-prematurity", "demo-nothing-to-say"):
        assert patient_id in output
    public = next(line.strip() for line in output.splitlines() if "sandbox.cds-hooks.org/?" in line)
    query = parse_qs(urlsplit(public).query)
    assert query["serviceDiscoveryURL"] == [discovery_url]
    assert query["fhirServiceUrl"] == [fhir_url]

    # Unsigned: refused. Signed with the configured sandbox key: served.
    assert requests.get(discovery_url, timeout=10).status_code == 401
    headers = {"Authorization": f"Bearer {_token(signing_key, discovery_url)}"}
    services = requests.get(discovery_url, headers=headers, timeout=10).json()["services"]
    assert [s["id"] for s in services] == [
        "osteopenia-management",
        "osteopenia-order-select",
        "osteopenia-order-sign",
    ]

    service_url = f"{discovery_url}/osteopenia-management"
    hook: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_url,
        "context": {"patientId": "demo-treatment-indicated", "userId": "Practitioner/demo"},
    }
    headers = {"Authorization": f"Bearer {_token(signing_key, service_url)}"}
    answer = requests.post(service_url, json=hook, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    rules = sorted(c["extension"]["urn:osteopenia-cds:rule"] for c in answer.json()["cards"])
    assert rules == ["R2", "R3", "R4"]
    # Every demo patient through HTTP and the fall-back fetch from the FHIR server (its labs
    # and MedicationAdministration searches included) gets the cards of its rules.
    for patient in DEMO_PATIENTS:
        hook = {**hook, "hookInstance": str(uuid.uuid4())}
        hook["context"] = {"patientId": patient.patient_id, "userId": "Practitioner/demo"}
        headers = {"Authorization": f"Bearer {_token(signing_key, service_url)}"}  # fresh jti
        answer = requests.post(service_url, json=hook, headers=headers, timeout=30)
        assert answer.status_code == 200, (patient.patient_id, answer.text)
        cards = answer.json()["cards"]
        rules = sorted(c["extension"]["urn:osteopenia-cds:rule"] for c in cards)
        assert rules == sorted(patient.rules), (patient.patient_id, cards)

    fhir_port = urlsplit(fhir_url).port
    demo.process.send_signal(signal.SIGINT)
    output = demo.finish()
    assert demo.process.returncode == 0
    assert output.splitlines()[-1] == "demo: stopped"
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", fhir_port), timeout=2):
        pass


def test_sandbox_url_keeps_urls_readable() -> None:
    url = sandbox_url(
        "http://127.0.0.1:9000",
        discovery_url="http://127.0.0.1:8080/cds-services",
        fhir_base_url="http://127.0.0.1:8081/fhir",
        patient_id="demo-low-zscore",
    )
    assert url == (
        "http://127.0.0.1:9000/?serviceDiscoveryURL=http://127.0.0.1:8080/cds-services"
        "&fhirServiceUrl=http://127.0.0.1:8081/fhir&patientId=demo-low-zscore"
    )


def test_issuer_file_pins_given_keys_or_names_the_published_ones(
    jwks_file: Path, tmp_path: Path
) -> None:
    from cds_service.security.issuers import load_trusted_issuers

    fhir = "http://127.0.0.1:8081/fhir"
    (pinned,) = load_trusted_issuers(write_issuer_file(tmp_path, jwks_file, fhir), production=False)
    assert pinned.iss == SANDBOX_ISSUER
    assert pinned.inline_keys is not None and KID in pinned.inline_keys
    assert pinned.fhir_servers == (fhir,)

    published = tmp_path / "published"
    published.mkdir()
    (fetched,) = load_trusted_issuers(write_issuer_file(published, None, fhir), production=False)
    assert fetched.inline_keys is None
    assert fetched.jwks_urls == ("https://sandbox.cds-hooks.org/.well-known/jwks.json",)
