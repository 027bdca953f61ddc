"""The commands the Dockerfile runs, run here: its install step, its CMD and its HEALTHCHECK.

No Docker engine is needed: the image's steps are read from the Dockerfile and executed
against a copy of what it COPYs, so a package-data file missing from the wheel, or a CMD that
gunicorn cannot start, fails here rather than in a deployment.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SEED_REQUEST = ROOT / "tests" / "rules" / "requests" / "seed_osteopenia_frax_hip_02.json"


def _instruction(name: str) -> str:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(rf"^{name} (.*)$", text, re.M)
    assert match is not None, f"no {name} in the Dockerfile"
    return match.group(1)


def _exec_form(instruction: str) -> list[str]:
    """The JSON array of a CMD (or of HEALTHCHECK ... CMD [...])."""
    return json.loads(instruction[instruction.index("[") :])


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the image holds: the COPYed sources installed with pip, then the sources removed."""
    if shutil.which("gunicorn", path=str(BIN)) is None:
        pytest.skip("gunicorn is not installed in this environment")
    work = tmp_path_factory.mktemp("image")
    context = work / "app"
    context.mkdir()
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        *sources, _destination = line.split()
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(
                    path, context / source, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(path, context / source)
    site = work / "site"
    result = subprocess.run(
        [str(BIN / "pip"), "install", "--quiet", "--no-deps", "--target", str(site), str(context)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    shutil.rmtree(context)
    return site


def _image_env(site: Path, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.pop("DATABASE_URL", None)
    env["PYTHONPATH"] = str(site)  # the installed copy, ahead of the editable checkout
    env["CDS_DATA_DIR"] = str(data_dir)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_wheel_ships_every_data_file(installed: Path) -> None:
    for data in (ROOT / "cds_service").rglob("*"):
        if data.suffix in {".json", ".mako", ".csv"} and "__pycache__" not in data.parts:
            assert (installed / data.relative_to(ROOT)).is_file(), f"{data} is not installed"
    for data in (ROOT / "fhir_mappings").rglob("*"):
        if data.suffix in {".json", ".csv"}:
            assert (installed / data.relative_to(ROOT)).is_file(), f"{data} is not installed"


def test_cmd_refuses_to_listen_on_all_interfaces_without_issuers(
    installed: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        _exec_form(_instruction("CMD")),
        cwd=tmp_path,
        env=_image_env(installed, tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "CDS_TRUSTED_ISSUERS_FILE" in result.stderr


@pytest.fixture
def serving(installed: Path, tmp_path: Path) -> Iterator[int]:
    """The image's CMD, bound to a loopback port instead of 0.0.0.0:8080."""
    port = free_port()
    command = [
        part.replace("0.0.0.0:8080", f"127.0.0.1:{port}")
        for part in _exec_form(_instruction("CMD"))
    ]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=_image_env(installed, tmp_path / "data"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            # Serving, not only listening: a worker has built the app (what the image's
            # HEALTHCHECK --start-period allows for).
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    pass
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start serving within 60 s")
        yield port
    finally:
        processes.stop(process)


def test_cmd_serves_cards_from_the_installed_package(serving: int) -> None:
    base = f"http://127.0.0.1:{serving}"
    with urllib.request.urlopen(f"{base}/readyz", timeout=10) as response:
        assert response.status == 200
    request = urllib.request.Request(
        f"{base}/cds-services/osteopenia-management",
        data=SEED_REQUEST.read_bytes(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        cards = json.loads(response.read())["cards"]
    assert {card["source"]["topic"]["code"] for card in cards} == {"R2", "R4"}


def test_cmd_closes_each_connection_so_no_worker_keeps_a_caller(serving: int) -> None:
    """A kept-alive connection stays with the worker that accepted it: the image answers with
    Connection: close and closes, so each call is accepted by a free worker."""
    connection = http.client.HTTPConnection("127.0.0.1", serving, timeout=30)
    try:
        connection.request(
            "POST",
            "/cds-services/osteopenia-management",
            body=SEED_REQUEST.read_bytes(),
            headers={"Content-Type": "application/json", "Connection": "keep-alive"},
        )
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Connection", "").lower() == "close"
        response.read()
        assert response.will_close
    finally:
        connection.close()


def test_healthcheck_command_passes_against_the_running_service(serving: int) -> None:
    command = [
        part.replace(":8080/", f":{serving}/") for part in _exec_form(_instruction("HEALTHCHECK"))
    ]
    command[0] = sys.executable if command[0] == "python" else command[0]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_healthcheck_command_fails_when_nothing_listens() -> None:
    port = free_port()
    command = [
        part.replace(":8080/", f":{port}/") for part in _exec_form(_instruction("HEALTHCHECK"))
    ]
    command[0] = sys.executable if command[0] == "python" else command[0]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
