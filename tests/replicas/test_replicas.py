"""Two replicas behind a real HAProxy, sharing one PostgreSQL: what a deployment relies on.

Every call goes through the balancer (round robin); the ``X-CDS-Replica`` header it adds says
which replica answered. Each replica is a gunicorn master with two workers and a data
directory of its own; replica1 reaches the database through a link the test can cut.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import create_engine, select

from benchmarks.workloads import generated_prefetch, hook_request
from cds_service.store.models import feedback as feedback_table
from cds_service.store.models import issued_cards
from tests.support.postgres import PostgresServer
from tests.support.replicas import DatabaseLink, Deployment, deployment

pytestmark = pytest.mark.integration

ISSUER = "https://ehr.example.org"
KID = "replica-test-key"
SERVICE = "/cds-services/osteopenia-management"
FEEDBACK = f"{SERVICE}/feedback"
REPLICA = "X-CDS-Replica"


class Ehr:
    """Signs a fresh JWT for each call, as an EHR does."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.key = ec.generate_private_key(ec.SECP384R1())

    def jwks(self) -> dict[str, Any]:
        public = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": KID, "alg": "ES384", "use": "sig"}]}

    def token(self, path: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": f"{self.base_url}{path}",
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.key, algorithm="ES384", headers={"kid": KID})

    def post(self, path: str, body: Any, token: str | None = None) -> requests.Response:
        token = token or self.token(path)
        return requests.post(
            f"{self.base_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def get(self, path: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(path)}"}
        return requests.get(f"{self.base_url}{path}", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[PostgresServer, str]]:
    server = PostgresServer().start()
    try:
        yield server, server.create_database()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def link(
    postgres: tuple[PostgresServer, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseLink]:
    server, _name = postgres
    link = DatabaseLink(tmp_path_factory.mktemp("link"), server.port).start()
    try:
        yield link
    finally:
        link.stop()


@pytest.fixture(scope="module")
def cluster(
    postgres: tuple[PostgresServer, str],
    link: DatabaseLink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Deployment, Ehr]]:
    server, name = postgres
    root = tmp_path_factory.mktemp("replicas")
    issuers = root / "trusted-issuers.json"
    # The balancer's URL is known only once it is chosen; the EHR signs for it.
    ehr = Ehr("")
    issuers.write_text(json.dumps([{"iss": ISSUER, "jwks": ehr.jwks(), "fhir_servers": []}]))
    via_link = f"postgresql+psycopg://postgres@127.0.0.1:{link.port}/{name}"
    with deployment(
        root,
        server.url(name),
        env={"CDS_TRUSTED_ISSUERS_FILE": str(issuers)},
        replica_database_urls={"replica1": via_link},
        check_interval="200ms",
    ) as running:
        ehr.base_url = running.url
        yield running, ehr


@pytest.fixture(scope="module")
def database(postgres: tuple[PostgresServer, str]) -> Iterator[Any]:
    server, name = postgres
    engine = create_engine(server.url(name))
    yield engine
    engine.dispose()


def hook_call() -> dict[str, Any]:
    patient_id, prefetch = generated_prefetch(40)
    return hook_request(patient_id, prefetch)


def issue_cards(ehr: Ehr, on: str) -> list[str]:
    """Hook calls through the balancer until replica ``on`` answers one; its card uuids."""
    for _ in range(6):
        response = ehr.post(SERVICE, hook_call())
        assert response.status_code == 200, response.text
        if response.headers[REPLICA] == on:
            cards = response.json()["cards"]
            assert cards
            return [card["uuid"] for card in cards]
    raise AssertionError(f"the balancer never chose {on}")


def wait_for_cards(database: Any, uuids: list[str]) -> None:
    """The card log is written at most 0.1 s after the call (deferred, batched)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with database.connect() as conn:
            found = conn.execute(
                select(issued_cards.c.card_uuid).where(issued_cards.c.card_uuid.in_(uuids))
            ).all()
        if len(found) == len(uuids):
            return
        time.sleep(0.05)
    raise AssertionError("cards never reached the card log")


def overridden(card_uuid: str, at: datetime) -> dict[str, Any]:
    return {
        "card": card_uuid,
        "outcome": "overridden",
        "outcomeTimestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def test_a_token_replayed_to_the_other_replica_is_refused(
    cluster: tuple[Deployment, Ehr],
) -> None:
    _running, ehr = cluster
    for _ in range(3):
        token = ehr.token(SERVICE)
        first = ehr.post(SERVICE, hook_call(), token)
        assert first.status_code == 200
        replays = [ehr.post(SERVICE, hook_call(), token) for _ in range(3)]
        assert [r.status_code for r in replays] == [401, 401, 401]
        # Round robin: the replays reached the replica that never saw the token.
        assert {r.headers[REPLICA] for r in replays} - {first.headers[REPLICA]}


def test_feedback_on_a_card_of_one_replica_is_taken_by_the_other(
    cluster: tuple[Deployment, Ehr], database: Any
) -> None:
    _running, ehr = cluster
    cards = issue_cards(ehr, on="replica1")
    wait_for_cards(database, cards)
    for _ in range(6):
        response = ehr.post(FEEDBACK, {"feedback": [overridden(cards[0], datetime.now(UTC))]})
        assert response.status_code == 200, response.text
        if response.headers[REPLICA] == "replica2":
            break
    else:
        raise AssertionError("the balancer never chose replica2")
    assert response.json() == {"received": 1, "stored": 1, "duplicates": 0, "unknownCards": 0}


def test_analytics_on_either_replica_count_both_replicas_cards(
    cluster: tuple[Deployment, Ehr], database: Any
) -> None:
    _running, ehr = cluster
    with database.connect() as conn:
        before = len(conn.execute(select(issued_cards.c.card_uuid)).all())
    cards = issue_cards(ehr, on="replica1") + issue_cards(ehr, on="replica2")
    wait_for_cards(database, cards)
    reports = {}
    for _ in range(4):
        response = ehr.get("/analytics")
        assert response.status_code == 200, response.text
        reports[response.headers[REPLICA]] = response.json()
    assert set(reports) == {"replica1", "replica2"}
    for report in reports.values():
        issued = sum(rule["issued"] for rule in report["rules"])
        assert issued >= before + len(cards)
    assert reports["replica1"]["rules"] == reports["replica2"]["rules"]


def _replica_answers(ehr: Ehr, calls: int) -> set[str]:
    answers = set()
    for _ in range(calls):
        response = requests.get(f"{ehr.base_url}/healthz", timeout=10)
        assert response.status_code == 200
        answers.add(response.headers[REPLICA])
    return answers


def _until(condition: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_a_replica_cut_off_the_database_is_not_ready_and_returns(
    cluster: tuple[Deployment, Ehr], link: DatabaseLink
) -> None:
    running, ehr = cluster
    replica1 = running.replicas[0]
    link.cut()
    try:
        _until(lambda: requests.get(f"{replica1.url}/readyz", timeout=10).status_code == 503)
        body = requests.get(f"{replica1.url}/readyz", timeout=10).json()
        assert "database unreachable" in str(body)
        # The balancer's /readyz checks take replica1 out of rotation; calls keep succeeding.
        _until(lambda: _replica_answers(ehr, 4) == {"replica2"})
        for _ in range(4):
            response = ehr.post(SERVICE, hook_call())
            assert response.status_code == 200
            assert response.headers[REPLICA] == "replica2"
    finally:
        link.restore()
    _until(lambda: requests.get(f"{replica1.url}/readyz", timeout=10).status_code == 200)
    _until(lambda: _replica_answers(ehr, 4) == {"replica1", "replica2"})


def test_a_replica_killed_under_load_loses_no_acknowledged_feedback(
    cluster: tuple[Deployment, Ehr], database: Any
) -> None:
    running, ehr = cluster
    [card] = issue_cards(ehr, on="replica2")[:1]
    acknowledged: list[str] = []
    failures: list[int] = []
    after_kill: list[int] = []
    killed = threading.Event()
    stop = threading.Event()
    lock = threading.Lock()
    start = datetime.now(UTC)
    counter = iter(range(1_000_000))

    def send() -> None:
        while not stop.is_set():
            with lock:
                at = start + timedelta(microseconds=next(counter))
            item = overridden(card, at)
            try:
                response = ehr.post(FEEDBACK, {"feedback": [item]})
                status = response.status_code
            except requests.RequestException:
                status = 0
            with lock:
                if status == 200 and response.json()["stored"] == 1:
                    acknowledged.append(item["outcomeTimestamp"])
                elif status != 200:
                    failures.append(status)
                if killed.is_set():
                    after_kill.append(status)

    senders = [threading.Thread(target=send) for _ in range(6)]
    for sender in senders:
        sender.start()
    time.sleep(1.5)
    running.replicas[1].kill()
    killed.set()
    time.sleep(2.5)
    stop.set()
    for sender in senders:
        sender.join(timeout=30)

    with database.connect() as conn:
        stored = {
            row.outcome_timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            for row in conn.execute(
                select(feedback_table.c.outcome_timestamp).where(feedback_table.c.card_uuid == card)
            )
        }
    assert len(acknowledged) > 50
    assert set(acknowledged) <= stored, "acknowledged feedback was lost"
    # The balancer carried on: most calls after the kill succeeded, and the last ones all did.
    assert after_kill.count(200) > 20
    assert after_kill[-10:] == [200] * 10
    # Only calls in flight on the killed replica can fail: a 502 (or a reset), never a 5xx
    # from a live replica.
    assert set(failures) <= {0, 502, 503}
    assert len(failures) <= 12

    # Back to two replicas for whatever runs next.
    running.replicas[1].start().wait_ready()
