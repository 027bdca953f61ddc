"""``osteopenia-cds evaluate`` and the command's argument handling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from cds_service.cli import EXIT_DATA_UNAVAILABLE, EXIT_OK, EXIT_USAGE, build_parser, main
from tests.service.conftest import FHIR_BASE
from tests.service.prefetch_builder import hook_request_for, load_bundle
from tests.support.fhir_fixtures import SYNTHEA_DXA_BUNDLE, SYNTHEA_DXA_PATIENT


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDS_DATA_DIR", str(tmp_path / "var"))


def _write(tmp_path: Path, body: Any) -> Path:
    path = tmp_path / "request.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


def test_evaluate_prints_cards_for_a_synthea_patient(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = _write(tmp_path, hook_request_for(load_bundle(SYNTHEA_DXA_BUNDLE), "cli-1"))
    assert main(["evaluate", str(path), "--as-of", "2018-01-15"]) == EXIT_OK
    body = json.loads(capsys.readouterr().out)
    assert set(body) == {"cards"}
    rules = {card["source"]["topic"]["code"] for card in body["cards"]}
    assert "R2" in rules
    # In January 2018 the August 2017 scan is recent: no DXA monitoring card yet.
    assert "R6" not in rules


def test_evaluate_as_of_changes_the_answer(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _write(tmp_path, hook_request_for(load_bundle(SYNTHEA_DXA_BUNDLE), "cli-2"))
    assert main(["evaluate", str(path), "--as-of", "2020-08-20"]) == EXIT_OK
    rules = {c["source"]["topic"]["code"] for c in json.loads(capsys.readouterr().out)["cards"]}
    assert "R6" in rules  # three years after the scan it is overdue


@responses.activate
def test_evaluate_fetches_missing_prefetch_from_fhir_server(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    request = hook_request_for(load_bundle(SYNTHEA_DXA_BUNDLE), "cli-3")
    conditions = request["prefetch"].pop("conditions")
    request["fhirServer"] = FHIR_BASE
    responses.get(f"{FHIR_BASE}/Condition", json=conditions)
    path = _write(tmp_path, request)
    assert main(["evaluate", str(path), "--as-of", "2018-01-15"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["cards"]
    assert responses.calls[0].request.url.endswith(f"patient={SYNTHEA_DXA_PATIENT}")


def test_evaluate_missing_data_exits_3_naming_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    request = hook_request_for(load_bundle(SYNTHEA_DXA_BUNDLE), "cli-4")
    del request["prefetch"]["conditions"]
    path = _write(tmp_path, request)
    assert main(["evaluate", str(path)]) == EXIT_DATA_UNAVAILABLE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "conditions" in captured.err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"hook": "patient-view"}', "hookInstance is required"),
        ('{"hook": "encounter-start", "hookInstance": "x", "context": {}}', "No service for hook"),
    ],
)
def test_evaluate_bad_request_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, content: str, message: str
) -> None:
    path = _write(tmp_path, content)
    assert main(["evaluate", str(path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_evaluate_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", str(tmp_path / "nope.json")]) == EXIT_USAGE
    assert "no such file" in capsys.readouterr().err


def test_evaluate_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", str(tmp_path)]) == EXIT_USAGE
    assert "directory" in capsys.readouterr().err


def test_evaluate_bad_date_is_a_usage_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "{}")
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(path), "--as-of", "yesterday"])
    assert exc.value.code == 2


def test_bad_configuration_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDS_MAX_BODY_BYTES", "lots")
    path = _write(tmp_path, hook_request_for(load_bundle(SYNTHEA_DXA_BUNDLE), "cli-5"))
    assert main(["evaluate", str(path)]) == EXIT_USAGE
    assert "CDS_MAX_BODY_BYTES" in capsys.readouterr().err


def test_serve_defaults_to_loopback_8080() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8080)
    args = build_parser().parse_args(["serve", "--host", "127.0.0.2", "--port", "9000"])
    assert (args.host, args.port) == ("127.0.0.2", 9000)


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_settings_from_empty_environment_are_the_defaults() -> None:
    """The documented defaults reach the service when no variable is set."""
    from cds_service.settings import Settings

    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({}).max_body_bytes == 5 * 1024 * 1024
    assert Settings.from_env({}).fetch_deadline_seconds == 8.0
