"""Several replicas of the service behind a real HAProxy, as a deployment runs them.

Each replica is a gunicorn master with its workers, in a process group of its own (so one can
be SIGKILLed whole, as a host or pod dies) and with a ``CDS_DATA_DIR`` of its own (separate
hosts share nothing on disk); all of them use one database. The balancer is HAProxy with the
shipped ``deploy/haproxy.cfg``. ``DatabaseLink`` is a second HAProxy, in TCP mode, through
which one replica reaches PostgreSQL, so a test can cut that replica off the database alone.
Everything listens on loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]
HAPROXY_CONFIG = REPO / "deploy" / "haproxy.cfg"
SERVICE_APP = "cds_service.app:create_app()"
REPLICA_NAMES = ("replica1", "replica2")  # the server names of deploy/haproxy.cfg


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None
    )
    if found is None:
        raise RuntimeError("HAProxy is not installed; run tests/support/ensure_haproxy.sh")
    return found


def _venv_tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_") and k != "DATABASE_URL"}
    env.update(extra)
    return env


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port}:\n{log.read_text()[-3000:]}")


def migrate(database_url: str) -> None:
    """What the migration Job does before a rollout: ``osteopenia-cds db upgrade``."""
    subprocess.run(
        [_venv_tool("osteopenia-cds"), "db", "upgrade"],
        env=_clean_env({"DATABASE_URL": database_url}),
        check=True,
        capture_output=True,
        timeout=120,
    )


class Replica:
    def __init__(self, name: str, root: Path, env: Mapping[str, str], *, workers: int = 2) -> None:
        self.name = name
        self.port = free_port()
        self.data_dir = root / name / "var"
        self.log = root / name / "service.log"
        self.env = dict(env)
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Replica:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = _clean_env({"CDS_DATA_DIR": str(self.data_dir), **self.env})
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    _venv_tool("gunicorn"),
                    "-c",
                    "python:cds_service.gunicorn_conf",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    str(self.workers),
                    SERVICE_APP,
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the master and every worker at once, as when the host dies."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # gunicorn: graceful shutdown
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


class Haproxy:
    def __init__(self, config: Path, env: Mapping[str, str], port: int, log: Path) -> None:
        self.config = config
        self.env = dict(env)
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Haproxy:
        subprocess.run(
            [haproxy_binary(), "-c", "-q", "-f", str(self.config)],
            env=_clean_env(self.env),
            check=True,
            capture_output=True,
        )
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [haproxy_binary(), "-db", "-f", str(self.config)],
                env=_clean_env(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_for_port(self.port, self.proc, "haproxy", self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


class DatabaseLink:
    """A TCP path to PostgreSQL for one replica, which ``cut`` breaks and ``restore`` mends."""

    def __init__(self, root: Path, db_port: int) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.socket = root / "link-admin.sock"
        config = root / "link.cfg"
        config.write_text(
            "global\n"
            f'    stats socket "{self.socket}" mode 600 level admin\n'
            "defaults\n"
            "    mode tcp\n"
            "    timeout connect 1s\n"
            "    timeout client 1h\n"
            "    timeout server 1h\n"
            "listen db\n"
            f"    bind 127.0.0.1:{self.port}\n"
            f"    server pg 127.0.0.1:{db_port}\n"
        )
        self._haproxy = Haproxy(config, {}, self.port, root / "link.log")

    def start(self) -> DatabaseLink:
        self._haproxy.start()
        return self

    def _admin(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def cut(self) -> None:
        """New connections are refused and the open ones are closed, as a network split."""
        self._admin("set server db/pg state maint")
        self._admin("shutdown sessions server db/pg")

    def restore(self) -> None:
        self._admin("set server db/pg state ready")

    def stop(self) -> None:
        self._haproxy.stop()


@dataclass
class Deployment:
    balancer: Haproxy
    replicas: list[Replica]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.balancer.port}"


@contextlib.contextmanager
def deployment(
    root: Path,
    database_url: str,
    *,
    env: Mapping[str, str] | None = None,
    replica_database_urls: Mapping[str, str] | None = None,
    workers: int = 2,
    check_interval: str = "2s",
) -> Iterator[Deployment]:
    """Migrate, start the replicas of ``deploy/haproxy.cfg``, then the balancer in front.

    ``replica_database_urls`` gives a replica another route to the same database (a
    ``DatabaseLink``); ``env`` is passed to every replica.
    """
    migrate(database_url)
    balancer_port = free_port()
    common = {
        "DATABASE_URL": database_url,
        "CDS_PUBLIC_BASE_URLS": f"http://127.0.0.1:{balancer_port}",
        **(env or {}),
    }
    routes = replica_database_urls or {}
    replicas = [
        Replica(
            name,
            root,
            {**common, "DATABASE_URL": routes.get(name, database_url)},
            workers=workers,
        )
        for name in REPLICA_NAMES
    ]
    balancer = Haproxy(
        HAPROXY_CONFIG,
        {
            "CDS_LB_BIND": f"127.0.0.1:{balancer_port}",
            "CDS_LB_CHECK_INTERVAL": check_interval,
            **{
                f"CDS_REPLICA_{i}": f"127.0.0.1:{replica.port}"
                for i, replica in enumerate(replicas, start=1)
            },
        },
        balancer_port,
        root / "haproxy.log",
    )
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_ready()
        balancer.start()
        yield Deployment(balancer, replicas)
    finally:
        balancer.stop()
        for replica in replicas:
            replica.stop()
