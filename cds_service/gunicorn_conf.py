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
