"""The card log, the patient hash, migrations at start-up, and the store's readiness check."""

from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, inspect, select, text
from sqlalchemy.exc import OperationalError

from cds_service.settings import Settings
from cds_service.store import Store, open_store
from cds_service.store.card_log import CardLog
from cds_service.store.db import create_store_engine, current_revision, head_revision, upgrade
from cds_service.store.models import issued_cards, issued_suggestions, store_meta
from cds_service.store.patient_hash import hash_patient_id
from cds_service.store.snoozes import SnoozeStore
from tests.store.conftest import card
from tests.store.helpers import issue, issued_count


def issued_rows(app: Flask) -> dict[str, dict[str, Any]]:
    with app.extensions["store"].engine.connect() as conn:
        rows = conn.execute(select(issued_cards)).mappings().all()
    return {row["card_uuid"]: dict(row) for row in rows}


def test_record_stores_rule_hook_instance_and_hashed_patient(store_app: Flask) -> None:
    no_topic = card("card-ext", "R9")
    del no_topic["source"]["topic"]
    bare = {"uuid": "card-bare", "summary": "s", "indicator": "info", "source": {"label": "x"}}
    issue(store_app, card("card-r3", "R3"), no_topic, bare, patient_id="Patient-123")
    rows = issued_rows(store_app)
    assert {uuid: row["rule_id"] for uuid, row in rows.items()} == {
        "card-r3": "R3",
        "card-ext": "R9",
        "card-bare": "unknown",
    }
    row = rows["card-r3"]
    assert row["service_id"] == "osteopenia-management"
    assert row["hook_instance"] == "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
    assert row["issued_at"] is not None
    assert len(row["patient_hash"]) == 64 and "Patient-123" not in row["patient_hash"]
    assert len({r["patient_hash"] for r in rows.values()}) == 1


def test_patient_id_never_stored_in_clear(store_app: Flask) -> None:
    issue(store_app, card("c1", "R2"), patient_id="very-identifiable-patient-id")
    engine = store_app.extensions["store"].engine
    with engine.connect() as conn:
        for table in (issued_cards, issued_suggestions, store_meta):
            for row in conn.execute(select(table)):
                assert "very-identifiable-patient-id" not in repr(tuple(row))


def test_cards_without_uuid_are_not_logged_and_repeats_are_logged_once(store_app: Flask) -> None:
    nameless = card("x", "R2")
    del nameless["uuid"]
    issue(store_app, card("c1", "R2"), nameless)
    issue(store_app, card("c1", "R2"))
    assert issued_count(store_app) == 1


def test_suggestion_kinds_recorded(store_app: Flask) -> None:
    named = card("c2", "R5", ("s-named", "ServiceRequest"))
    named["suggestions"][0]["extension"] = {"urn:osteopenia-cds:suggestion-kind": "vitamin-d"}
    issue(
        store_app,
        card("c1", "R4", ("s-dxa", "ServiceRequest"), ("s-drug", "MedicationRequest")),
        named,
    )
    with store_app.extensions["store"].engine.connect() as conn:
        rows = conn.execute(
            select(issued_suggestions.c.suggestion_uuid, issued_suggestions.c.kind)
        ).all()
    kinds = {uuid: kind for uuid, kind in rows}
    assert kinds == {
        "s-dxa": "ServiceRequest",
        "s-drug": "MedicationRequest",
        "s-named": "vitamin-d",
    }


def test_generated_salt_is_persisted_and_reused(make_store_app: Any) -> None:
    first = make_store_app()
    issue(first, card("c1", "R2"), patient_id="p-1")
    second = make_store_app()  # a restart, or another replica on the same database
    issue(second, card("c2", "R2"), patient_id="p-1")
    rows = issued_rows(second)
    assert rows["c1"]["patient_hash"] == rows["c2"]["patient_hash"]
    with second.extensions["store"].engine.connect() as conn:
        salt = conn.execute(select(store_meta.c.value)).scalar_one()
    assert len(salt) == 64
    assert rows["c1"]["patient_hash"] == hash_patient_id(salt, "p-1")


def test_configured_salt_is_used(make_store_app: Any) -> None:
    app = make_store_app(patient_hash_salt="deployment-secret")
    issue(app, card("c1", "R2"), patient_id="p-1")
    assert issued_rows(app)["c1"]["patient_hash"] == hash_patient_id("deployment-secret", "p-1")


def test_record_never_raises_when_the_database_fails(
    store_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    engine = store_app.extensions["store"].engine

    def fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "issued_cards" in statement and statement.lstrip().upper().startswith("INSERT"):
            raise OperationalError(statement, {}, Exception("database is locked"))

    event.listen(engine, "before_cursor_execute", fail)
    try:
        with caplog.at_level(logging.ERROR):
            issue(store_app, card("c1", "R2"))
    finally:
        event.remove(engine, "before_cursor_execute", fail)
    assert issued_count(store_app) == 0
    assert "card log" in caplog.text


# ----------------------------------------------------------------------- schema and start-up


def test_start_up_creates_the_schema_at_head(store_app: Flask) -> None:
    engine = store_app.extensions["store"].engine
    assert current_revision(engine) == head_revision() is not None
    tables = set(inspect(engine).get_table_names())
    assert {"issued_cards", "issued_suggestions", "feedback", "feedback_suggestions"} <= tables


def test_sqlite_file_in_data_dir_in_wal_mode(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "var"  # does not exist yet
    store = open_store(Settings(data_dir=data_dir))
    try:
        assert (data_dir / "osteopenia-cds.sqlite3").is_file()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar()) >= 5000
            assert int(conn.exec_driver_sql("PRAGMA synchronous").scalar()) == 2  # FULL
    finally:
        store.close()


def test_upgrade_is_idempotent(store_app: Flask) -> None:
    engine = store_app.extensions["store"].engine
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_readiness_reports_the_store(store_app: Flask, store_client: Any) -> None:
    [check] = [c for c in store_app.extensions["readiness"] if c()["name"] == "store"]
    result = check()
    assert result["ok"] is True and str(head_revision()) in result["detail"]
    assert store_client.get("/readyz").status_code == 200


def test_readiness_fails_when_schema_is_behind(store_app: Flask, store_client: Any) -> None:
    engine = store_app.extensions["store"].engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    result = store_app.extensions["store"].readiness()
    assert result["ok"] is False and f"expected {head_revision()}" in result["detail"]
    assert store_client.get("/readyz").status_code == 503


def test_readiness_holds_when_a_newer_release_migrated_first(
    store_app: Flask, store_client: Any
) -> None:
    """The migration Job of a rollout runs before the new replicas start: the old ones keep
    serving on the newer (additive) schema until they are replaced."""
    engine = store_app.extensions["store"].engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe_newer'"))
    result = store_app.extensions["store"].readiness()
    assert result["ok"] is True and "newer than" in result["detail"]
    assert store_client.get("/readyz").status_code == 200
    # A replica of this release restarting now starts on that schema.
    restarted = open_store(store_app.extensions["store"].settings)
    try:
        assert current_revision(restarted.engine) == "f00dcafe_newer"
    finally:
        restarted.close()


def test_readiness_fails_when_database_unreachable(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{_closed_port()}/x"
    engine = create_store_engine(url)
    store = Store(
        Settings(data_dir=tmp_path, database_url=url),
        engine,
        CardLog(engine, "s"),
        SnoozeStore(engine, "s"),
    )
    result = store.readiness()
    assert result["ok"] is False and "unreachable" in result["detail"]
    assert "secret" not in result["detail"]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _open_in_child(settings: Settings, queue: Any) -> None:
    try:
        store = open_store(settings)
        queue.put(("ok", current_revision(store.engine)))
        store.close()
    except Exception as exc:  # reported to the parent, which fails the test
        queue.put(("error", repr(exc)))


def test_several_processes_starting_together_migrate_once(store_settings: Settings) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=_open_in_child, args=(store_settings, queue)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert results == [("ok", head_revision())] * 4


def test_hostile_hook_instance_and_patient_id_are_stored_safely(store_app: Flask) -> None:
    store_app.extensions["card_log"].record(
        service_id="osteopenia-management",
        hook_instance="hook\x00instance\ud800",
        patient_id="patient\ud800\x00",
        cards=[card("c1", "R2", ("s\x00bad", "ServiceRequest"), ("s-good", "ServiceRequest"))],
    )
    row = issued_rows(store_app)["c1"]
    assert "\x00" not in row["hook_instance"] and row["hook_instance"].startswith("hook")
    assert len(row["patient_hash"]) == 64
    with store_app.extensions["store"].engine.connect() as conn:
        stored = conn.execute(select(issued_suggestions.c.suggestion_uuid)).scalars().all()
    assert stored == ["s-good"]


def test_suggestion_kind_names_the_coded_order(store_app: Flask) -> None:
    drug = card("c1", "R4", ("s-drug", "MedicationRequest"), ("s-scan", "ServiceRequest"))
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    drug["suggestions"][0]["actions"][0]["resource"]["medicationCodeableConcept"] = {
        "coding": [{"system": rxnorm, "code": "46041", "display": "alendronate"}],
        "text": "alendronate 70 mg oral tablet",
    }
    drug["suggestions"][1]["actions"][0]["resource"]["code"] = {"text": "DXA bone density scan"}
    issue(store_app, drug)
    with store_app.extensions["store"].engine.connect() as conn:
        rows = conn.execute(
            select(issued_suggestions.c.suggestion_uuid, issued_suggestions.c.kind)
        ).all()
    assert dict(rows) == {
        "s-drug": "MedicationRequest: alendronate",
        "s-scan": "ServiceRequest: DXA bone density scan",
    }
