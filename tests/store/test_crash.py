"""A serving process killed with SIGKILL while clients stream feedback loses nothing it acked.

gunicorn with two workers serves the real application; four client threads post batches of
feedback; after enough acknowledgements the whole process group gets SIGKILL, mid-request.
Afterwards every batch answered 200 must be in the database, and every batch, answered or
not, must be there entirely or not at all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import select

from cds_service.settings import Settings
from cds_service.store import open_store
from cds_service.store.models import feedback
from tests.store.conftest import FEEDBACK_URL, overridden
from tests.support.net import free_port

CLIENTS = 4
BATCH = 5
KILL_AFTER_ACKED_BATCHES = 60
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["CDS_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    return env


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()}")
        try:
            if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet, or no worker booted yet
        time.sleep(0.1)
    raise AssertionError(f"server not ready: {log.read_text()}")


class FeedbackStream(threading.Thread):
    """Posts batches of unique feedback until the server stops answering."""

    def __init__(self, base: str, client: int, acked: list[list[str]], sent: list[list[str]]):
        super().__init__(daemon=True)
        self.base = base
        self.client = client
        self.acked = acked
        self.sent = sent
        self.unexpected: list[str] = []

    def run(self) -> None:
        session = requests.Session()
        batch_no = 0
        while True:
            cards = [f"crash-{self.client}-{batch_no}-{i}" for i in range(BATCH)]
            body = {"feedback": [overridden(c, "patient-declined") for c in cards]}
            self.sent.append(cards)
            try:
                response = session.post(self.base + FEEDBACK_URL, json=body, timeout=30)
            except requests.RequestException:
                return  # the server is gone
            if response.status_code == 200:
                self.acked.append(cards)
            else:
                self.unexpected.append(f"{response.status_code} {response.text[:200]}")
            batch_no += 1


def test_sigkill_while_streaming_feedback_loses_no_acknowledged_feedback(
    store_settings: Settings, tmp_path: Path
) -> None:
    open_store(store_settings).close()  # schema in place before the workers race for it
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [
                GUNICORN,
                "-c",
                "python:cds_service.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "2",
                # Not the per-user default socket, which other gunicorns on the host share.
                "--no-control-socket",
                "cds_service.app:create_app()",
            ],
            env=_environment(store_settings),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: master and workers die together
        )
    try:
        _wait_ready(base, server, log)
        acked: list[list[str]] = []
        sent: list[list[str]] = []
        streams = [FeedbackStream(base, n, acked, sent) for n in range(CLIENTS)]
        for stream in streams:
            stream.start()
        deadline = time.monotonic() + 120
        while len(acked) < KILL_AFTER_ACKED_BATCHES and time.monotonic() < deadline:
            time.sleep(0.005)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        for stream in streams:
            stream.join(timeout=60)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)

    assert len(acked) >= KILL_AFTER_ACKED_BATCHES, log.read_text()
    assert [u for s in streams for u in s.unexpected] == []
    assert len(sent) > len(acked)  # the kill cut requests off in flight

    store = open_store(store_settings)
    try:
        with store.engine.connect() as conn:
            stored = set(conn.execute(select(feedback.c.card_uuid)).scalars())
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        store.close()
    missing = [c for batch in acked for c in batch if c not in stored]
    assert missing == [], f"{len(missing)} acknowledged feedback items lost"
    partial = [batch for batch in sent if 0 < sum(c in stored for c in batch) < len(batch)]
    assert partial == [], "a batch was stored in part"
    # Whatever was stored was sent: no phantom rows.
    assert stored <= {c for batch in sent for c in batch}
