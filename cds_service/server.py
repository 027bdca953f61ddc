"""The production server, started from Python: gunicorn with the image's configuration.

``osteopenia-cds serve`` runs exactly what the Docker image's command runs: gunicorn, its
settings taken from ``cds_service.gunicorn_conf`` (worker model, hooks, bind-address check),
then the few options given on the command line. Nothing here repeats a setting of that module,
so the two ways of starting the service cannot drift apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from gunicorn.app.base import BaseApplication

CONFIG_MODULE = "cds_service.gunicorn_conf"
APP = "cds_service.app:create_app()"


class ServiceApplication(BaseApplication):  # type: ignore[misc]
    """gunicorn's arbiter over the service's WSGI app, configured from ``CONFIG_MODULE``."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        module = importlib.import_module(CONFIG_MODULE)
        for name, value in vars(module).items():
            if name in self.cfg.settings:
                self.cfg.set(name, value)
        for name, value in self.options.items():
            if value is not None:
                self.cfg.set(name, value)

    def load(self) -> Any:
        # Built in each worker after the fork, as gunicorn does for the image's command.
        from cds_service.app import create_app

        return create_app()


def run(host: str, port: int, *, workers: int | None, threads: int | None) -> None:
    """Serve until stopped (SIGINT/SIGTERM); exits the process on a configuration error."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    options: dict[str, Any] = {"bind": [bind], "workers": workers, "threads": threads}
    ServiceApplication(options).run()
