"""gunicorn configuration: refuse to listen beyond loopback without authentication.

Use it for every gunicorn start::

    gunicorn -c python:cds_service.gunicorn_conf --bind 0.0.0.0:8080 'cds_service.app:create_app()'

``create_app`` cannot see gunicorn's bind addresses, so the check lives in the master's
``on_starting`` hook, which runs before any socket is bound or worker forked (and, with
``--preload``, after the app was built). Loading this file also tells ``create_app`` that the
gate is in place; under gunicorn without it, an unauthenticated ``create_app`` refuses to start.
"""

from __future__ import annotations

import sys
from typing import Any

from cds_service import gc_tuning, security
from cds_service.settings import ConfigurationError, Settings

security.mark_gunicorn_bind_gate()

# The worker model (see README, "Staying up"): threads, so a hook call waiting on a FHIR server
# that never answers holds one thread, not a whole worker. Command-line options override these.
worker_class = "gthread"
workers = 2
threads = 16
# Every answer closes its connection. A gthread worker keeps a kept-alive connection for
# itself, so when a caller's few connections all land on one worker that worker serves every
# call on one core while the other idles: with 4 connections wrk measured either about 1,070
# or 490 requests per second, by how the connections happened to fall. Closed connections are
# accepted afresh by whichever worker is free: about 920 every run (README, Performance).
keepalive = 0
# gunicorn's runtime control socket (one path per user, shared by every instance on the host)
# is not used by the service; without it two instances cannot collide or be steered.
control_socket_disable = True


def bind_host(address: str) -> str:
    """The host part of a gunicorn bind address. Unix sockets and inherited file descriptors
    give "" (not loopback): what they are reachable from cannot be told from here."""
    if address.startswith(("unix:", "fd://")):
        return ""
    if address.startswith("["):  # [::1]:8000
        return address[1 : address.find("]")] if "]" in address else ""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return address
    return host


def on_starting(server: Any) -> None:
    try:
        settings = Settings.from_env()
        for address in server.cfg.bind:
            security.check_startup_safety(settings, bind_host(address))
    except ConfigurationError as exc:
        message = f"osteopenia-cds: configuration error: {exc}"
        server.log.error(message)
        print(message, file=sys.stderr)
        raise SystemExit(2) from None
    warning = isolation_warning(server.cfg, settings)
    if warning:
        server.log.warning(warning)


def isolation_warning(cfg: Any, settings: Settings) -> str | None:
    """Why these settings let calls waiting on slow FHIR servers block the others, or None.

    Fall-back fetches are capped host-wide (CDS_FETCH_MAX_TOTAL); gunicorn may hand all of
    them to one worker, so a worker needs more threads than that cap to keep serving. With
    sync workers each fetch holds a whole process.
    """
    cap = settings.fetch_max_total
    worker_class = getattr(cfg, "worker_class_str", None)
    if worker_class == "gthread" and cfg.threads <= cap:
        return (
            f"CDS_FETCH_MAX_TOTAL ({cap}) is not below the threads per worker "
            f"({cfg.threads}): fall-back fetches waiting on a slow FHIR server can hold every "
            "thread of a worker"
        )
    if worker_class == "sync" and cfg.workers <= cap:
        return (
            f"sync workers: CDS_FETCH_MAX_TOTAL ({cap}) is not below the workers "
            f"({cfg.workers}): fall-back fetches waiting on a slow FHIR server can hold every "
            "worker (use the default gthread workers)"
        )
    return None


def post_worker_init(worker: Any) -> None:
    # The worker has just built the app (create_app): what exists now lives as long as it.
    gc_tuning.settle_after_startup()


def worker_exit(server: Any, worker: Any) -> None:
    # Cards issued in the last moments may still be queued for the card log (also flushed
    # at interpreter exit; this covers a worker that leaves without it).
    app = getattr(worker, "wsgi", None)
    card_log = getattr(app, "extensions", {}).get("card_log")
    if hasattr(card_log, "flush"):
        card_log.flush()
