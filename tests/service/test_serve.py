"""``osteopenia-cds serve`` runs the production server with the Docker image's configuration."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from cds_service import cli, gunicorn_conf, server
from cds_service.settings import Settings


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CDS_TRUSTED_ISSUERS_FILE", "CDS_ENV", "CDS_FETCH_MAX_TOTAL"):
        monkeypatch.delenv(name, raising=False)


def test_the_application_takes_every_setting_of_the_shared_config_module() -> None:
    cfg = server.ServiceApplication({"bind": ["127.0.0.1:8080"]}).cfg
    assert cfg.worker_class_str == "gthread" == gunicorn_conf.worker_class
    assert (cfg.workers, cfg.threads) == (gunicorn_conf.workers, gunicorn_conf.threads) == (2, 16)
    assert cfg.control_socket_disable is True
    # The hooks that check the bind address, tune the GC and flush the card log.
    assert cfg.on_starting is gunicorn_conf.on_starting
    assert cfg.post_worker_init is gunicorn_conf.post_worker_init
    assert cfg.worker_exit is gunicorn_conf.worker_exit
    assert cfg.bind == ["127.0.0.1:8080"]


def test_workers_and_threads_from_the_command_line_override_the_module() -> None:
    cfg = server.ServiceApplication({"bind": ["[::1]:9000"], "workers": 3, "threads": 4}).cfg
    assert (cfg.workers, cfg.threads, cfg.worker_class_str) == (3, 4, "gthread")
    assert server.ServiceApplication({"workers": None}).cfg.workers == 2  # None: not given


def test_serve_starts_gunicorn_unless_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(
        server, "run", lambda host, port, **kw: started.append({"host": host, "port": port, **kw})
    )
    assert cli.main(["serve", "--port", "9001", "--workers", "3", "--threads", "24"]) == 0
    assert started == [{"host": "127.0.0.1", "port": 9001, "workers": 3, "threads": 24}]


@pytest.mark.parametrize("bad", ["0", "-2", "many"])
def test_serve_rejects_a_bad_worker_count(bad: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["serve", "--workers", bad])
    assert exc.value.code == 2
    assert "--workers" in capsys.readouterr().err


def _cfg(worker_class: str, workers: int, threads: int) -> SimpleNamespace:
    return SimpleNamespace(worker_class_str=worker_class, workers=workers, threads=threads)


def test_start_up_warns_when_the_fetch_cap_can_hold_a_whole_worker() -> None:
    settings = Settings(fetch_max_total=8)
    assert gunicorn_conf.isolation_warning(_cfg("gthread", 2, 16), settings) is None
    warning = gunicorn_conf.isolation_warning(_cfg("gthread", 2, 8), settings)
    assert warning and "CDS_FETCH_MAX_TOTAL (8)" in warning
    warning = gunicorn_conf.isolation_warning(_cfg("sync", 4, 1), settings)
    assert warning and "sync workers" in warning
    assert gunicorn_conf.isolation_warning(_cfg("sync", 4, 1), Settings(fetch_max_total=3)) is None
