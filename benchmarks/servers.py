"""Start the servers the HTTP benchmark compares, each in its own process group.

- the service under gunicorn with the Docker image's settings (read from the Dockerfile's
  gunicorn command and ENV lines, so the benchmark follows the image), 2 workers, auth off
  (no trusted issuers; loopback only), data in a temporary directory;
- the bare Flask baseline under the same gunicorn settings;
- the HealthChain peer under uvicorn with 2 workers, from its own virtual environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO_ROOT / "Dockerfile"
HEALTHCHAIN_VENV = REPO_ROOT / "benchmarks" / ".venv-healthchain"
HOST = "127.0.0.1"
WORKERS = 2
SERVICE_APP = "cds_service.app:create_app()"
BASELINE_APP = "benchmarks.baseline_app:create_app()"
# Used only when there is no Dockerfile to read the settings from.
FALLBACK_GUNICORN_ARGS = ("-c", "python:cds_service.gunicorn_conf", "--workers", "2")


@dataclass(frozen=True)
class GunicornSettings:
    args: tuple[str, ...]  # options only: no bind, no app
    env: Mapping[str, str]
    source: str  # where the settings came from


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\r?\n", " ", text)
    instructions = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _command_words(value: str) -> list[str]:
    if value.startswith("["):
        return [str(w) for w in json.loads(value)]
    return shlex.split(value)


def _env_pairs(value: str) -> dict[str, str]:
    words = shlex.split(value)
    if len(words) == 2 and "=" not in words[0]:  # legacy "ENV KEY value"
        return {words[0]: words[1]}
    return dict(w.split("=", 1) for w in words if "=" in w)


def _without_option(words: list[str], *names: str) -> list[str]:
    """``words`` less every ``NAME VALUE`` and ``--long=VALUE`` of the named option."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in names:
            i += 2
            continue
        if any(word.startswith(f"{name}=") for name in names if name.startswith("--")):
            i += 1
            continue
        out.append(word)
        i += 1
    return out


def _strip_bind_and_app(words: list[str]) -> list[str]:
    """gunicorn options without --bind/-b and without the trailing app module."""
    options = _without_option(words, "-b", "--bind")
    # The app is the last positional word (``module:callable``).
    if options and ":" in options[-1] and not options[-1].startswith("-"):
        options.pop()
    return options


def _with_workers(options: list[str], workers: int) -> list[str]:
    return [*_without_option(options, "-w", "--workers"), "--workers", str(workers)]


def docker_gunicorn_settings(dockerfile: Path = DOCKERFILE) -> GunicornSettings:
    """gunicorn options and environment of the Docker image, with 2 workers."""
    if not dockerfile.is_file():
        return GunicornSettings(FALLBACK_GUNICORN_ARGS, {}, "defaults (no Dockerfile)")
    env: dict[str, str] = {}
    command: list[str] = []
    for keyword, value in _dockerfile_instructions(dockerfile.read_text()):
        if keyword == "ENV":
            env.update(_env_pairs(value))
        elif keyword in ("CMD", "ENTRYPOINT"):
            words = _command_words(value)
            if any(Path(w).name == "gunicorn" for w in words[:3]):
                command = words
    if not command:
        return GunicornSettings(
            FALLBACK_GUNICORN_ARGS, env, "defaults (Dockerfile has no gunicorn)"
        )
    start = next(i for i, w in enumerate(command) if Path(w).name == "gunicorn")
    options = _with_workers(_strip_bind_and_app(command[start + 1 :]), WORKERS)
    return GunicornSettings(tuple(options), env, "Dockerfile")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until_listening(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s")


@dataclass
class RunningServer:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    command: list[str]
    log_path: Path

    def log_tail(self, limit: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


@contextlib.contextmanager
def _run(
    name: str, command: list[str], env: Mapping[str, str], port: int, log_dir: Path
) -> Iterator[RunningServer]:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers are stopped with it
        )
    server = RunningServer(name, port, process, command, log_path)
    try:
        try:
            wait_until_listening(process, port, timeout=90)
        except RuntimeError as exc:
            raise RuntimeError(f"{name}: {exc}\n{server.log_tail()}") from None
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def _base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CDS_", "GUNICORN_", "WEB_CONCURRENCY", "DATABASE_URL"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def _gunicorn_command(settings: GunicornSettings, port: int, app: str) -> list[str]:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return [gunicorn, *settings.args, "--bind", f"{HOST}:{port}", app]


@contextlib.contextmanager
def service_server(
    settings: GunicornSettings,
    log_dir: Path,
    *,
    data_root: Path | None = None,
    name: str = "service",
) -> Iterator[RunningServer]:
    """The service; its data directory (SQLite card log) under ``data_root`` (default: the
    temporary directory, on disk like the image's volume)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-data-", dir=data_root) as data_dir:
        env = _base_env()
        env.update({k: v for k, v in settings.env.items() if k != "CDS_TRUSTED_ISSUERS_FILE"})
        # Auth off is refused outside development; the benchmark runs on loopback only. The
        # log level stays the image's, so the request log line per request is written (to
        # the server's log file, as the image writes it to the container's output).
        env.update({"CDS_ENV": "development", "CDS_DATA_DIR": data_dir})
        env.pop("DATABASE_URL", None)
        command = _gunicorn_command(settings, port, SERVICE_APP)
        with _run(name.replace(" ", "-").replace(",", ""), command, env, port, log_dir) as server:
            yield server


def worker_model_options() -> list[str]:
    """The worker model of ``cds_service.gunicorn_conf`` as gunicorn options: for a server
    that does not load that module (the baseline), so it runs under the same model."""
    from cds_service import gunicorn_conf

    return ["--worker-class", gunicorn_conf.worker_class, "--threads", str(gunicorn_conf.threads)]


def sync_workers(settings: GunicornSettings) -> GunicornSettings:
    """The same settings with the sync workers the image ran before gthread."""
    args = _without_option(list(settings.args), "-k", "--worker-class", "--threads")
    return GunicornSettings(
        (*args, "--worker-class", "sync", "--threads", "1"), settings.env, settings.source
    )


@contextlib.contextmanager
def baseline_server(settings: GunicornSettings, log_dir: Path) -> Iterator[RunningServer]:
    port = free_port()
    # The baseline takes the image's gunicorn options and worker model but not the service's
    # config module, whose start-up checks concern the service.
    options = list(settings.args)
    cleaned: list[str] = []
    i = 0
    while i < len(options):
        if options[i] in ("-c", "--config"):
            i += 2
            continue
        if options[i].startswith("--config="):
            i += 1
            continue
        cleaned.append(options[i])
        i += 1
    env = _base_env()
    env.update({k: v for k, v in settings.env.items() if k.startswith("GUNICORN_")})
    options = (*worker_model_options(), *cleaned)
    command = _gunicorn_command(GunicornSettings(options, {}, ""), port, BASELINE_APP)
    with _run("baseline", command, env, port, log_dir) as server:
        yield server


def tmpfs_root() -> Path | None:
    """A memory file system, where a commit's fsync costs nothing, if the machine has one."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def healthchain_available() -> str | None:
    """None when the HealthChain environment is installed, else why not."""
    python = HEALTHCHAIN_VENV / "bin" / "python"
    if not python.is_file():
        return f"{HEALTHCHAIN_VENV} is missing (make bench creates it)"
    return None


@contextlib.contextmanager
def healthchain_server(log_dir: Path) -> Iterator[RunningServer]:
    port = free_port()
    env = _base_env()
    env["PYTHONPATH"] = str(REPO_ROOT)
    command = [
        str(HEALTHCHAIN_VENV / "bin" / "python"),
        "-m",
        "uvicorn",
        "--factory",
        "benchmarks.healthchain_app:create_app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--no-access-log",
        "--log-level",
        "warning",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]
    with _run("healthchain", command, env, port, log_dir) as server:
        yield server
