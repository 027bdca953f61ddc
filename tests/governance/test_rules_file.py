"""CDS_RULES_FILE is checked whole at start-up: each kind of mistake stops the service, naming
the entry; a good file is read as written."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.governance_rules import DEFAULT_SNOOZE_DAYS, Mode, load_rules_file
from cds_service.settings import ConfigurationError, Settings
from tests.governance.conftest import write_rules

CLI = str(Path(sys.executable).with_name("osteopenia-cds"))

MISTAKES: list[tuple[str, Any, str]] = [
    ("not JSON", '{"rules": {"R2": "silent",}}', "line 1 column 27: invalid JSON"),
    ("not an object", ["R2"], "top level: must be a JSON object"),
    ("unknown top-level field", {"rule": {"R2": "silent"}}, "top level: unknown field(s) rule"),
    ("rules not an object", {"rules": ["R2"]}, "rules: must be an object"),
    ("unknown rule id", {"rules": {"R11": "silent"}}, "rules.R11: unknown rule id"),
    ("unknown mode", {"rules": {"R2": "quiet"}}, "rules.R2: the mode must be one of"),
    ("mode of wrong type", {"rules": {"R2": 1}}, "rules.R2: must be a mode"),
    ("object without mode", {"rules": {"R4": {"users": ["Practitioner/7"]}}}, "rules.R4: 'mode'"),
    (
        "unknown rule field",
        {"rules": {"R4": {"mode": "active", "user": ["x"]}}},
        "rules.R4: unknown",
    ),
    ("empty users", {"rules": {"R4": {"mode": "active", "users": []}}}, "rules.R4: 'users'"),
    ("users not strings", {"rules": {"R4": {"mode": "active", "users": [7]}}}, "rules.R4: 'users'"),
    (
        "issuers with spaces",
        {"rules": {"O3": {"mode": "active", "issuers": [" https://ehr "]}}},
        "rules.O3: 'issuers'",
    ),
    (
        "pilot group on a silent rule",
        {"rules": {"R4": {"mode": "silent", "users": ["Practitioner/7"]}}},
        "rules.R4: 'users' and 'issuers' name a pilot group, only with mode active",
    ),
    ("others without a group", {"rules": {"R4": {"mode": "active", "others": "off"}}}, "rules.R4"),
    (
        "others active",
        {"rules": {"R4": {"mode": "active", "users": ["Practitioner/7"], "others": "active"}}},
        "rules.R4: 'others' must be silent or off",
    ),
    ("snooze_days not an object", {"snooze_days": 180}, "snooze_days: must be an object"),
    ("unknown reason", {"snooze_days": {"patient-declined": 30}}, "'patient-declined' is not"),
    (
        "days not a number",
        {"snooze_days": {"specialist": "30"}},
        "specialist: days must be a whole",
    ),
    ("days a boolean", {"snooze_days": {"specialist": True}}, "specialist: days must be a whole"),
    ("days fractional", {"snooze_days": {"specialist": 1.5}}, "specialist: days must be a whole"),
    ("days negative", {"snooze_days": {"specialist": -1}}, "specialist: days must be 0 to 3650"),
    ("days too many", {"snooze_days": {"specialist": 3651}}, "specialist: days must be 0 to 3650"),
]


@pytest.mark.parametrize(
    ("content", "message"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_a_mistake_stops_start_up_naming_the_entry(
    make_app: Callable[..., Flask], content: Any, message: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        make_app(content)
    assert str(raised.value).startswith("CDS_RULES_FILE ")
    assert message in str(raised.value)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="file: cannot be read"):
        load_rules_file(tmp_path / "absent.json")
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"rules": {"R2": "silent"}, "description": "caf\xe9"}')
    with pytest.raises(ConfigurationError, match="file: is not UTF-8 text"):
        load_rules_file(path)


def test_a_good_file_is_read_as_written(tmp_path: Path) -> None:
    every_id = {**{f"R{n}": "active" for n in range(11)}, **{f"O{n}": "off" for n in range(1, 8)}}
    config = load_rules_file(
        write_rules(
            tmp_path / "rules.json",
            {
                "description": "pilot of the order-time rules",
                "rules": {
                    **every_id,
                    "R2": "silent",
                    "R4": {"mode": "active", "users": ["Practitioner/7"], "issuers": ["https://a"]},
                },
                "snooze_days": {"patient-declines": 0, "specialist": 90},
            },
        )
    )
    assert config.mode_for("R2", "Practitioner/7", "https://a") is Mode.SILENT
    assert config.mode_for("O5", None, None) is Mode.OFF
    assert config.mode_for("R10", None, None) is Mode.ACTIVE
    assert config.mode_for("R4", "Practitioner/7", None) is Mode.ACTIVE
    assert config.mode_for("R4", None, "https://a") is Mode.ACTIVE
    assert config.mode_for("R4", "Practitioner/8", "https://b") is Mode.SILENT
    assert config.snooze_days_for("patient-declines") == 0
    assert config.snooze_days_for("specialist") == 90
    assert config.snooze_days_for("contraindication") == DEFAULT_SNOOZE_DAYS["contraindication"]
    assert config.snooze_days_for("correct-first") == 0


def test_settings_read_the_variable(tmp_path: Path) -> None:
    assert Settings.from_env({"CDS_RULES_FILE": str(tmp_path / "r.json")}).rules_file == (
        tmp_path / "r.json"
    )
    assert Settings.from_env({}).rules_file is None


def test_the_command_line_server_refuses_to_start(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules.json", {"rules": {"R4": "sometimes"}})
    env = {**os.environ, "CDS_RULES_FILE": str(rules), "CDS_DATA_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [CLI, "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"CDS_RULES_FILE {rules}: rules.R4: the mode must be one of" in result.stderr
    assert not (tmp_path / "var").exists()  # refused before the store was opened
