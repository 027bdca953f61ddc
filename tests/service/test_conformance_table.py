"""docs/conformance.md lists every Service SHALL / SHALL NOT of the CDS Hooks 2.0 requirements
CSV, and every test it names exists."""

from __future__ import annotations

import ast
import csv
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "conformance.md"
# A copy of the requirements list (tests/fixtures/README.md); the ids below must match it.
REQUIREMENTS_CSV = ROOT / "tests" / "fixtures" / "reference" / "cds-hooks-2.0-requirements.csv"
SERVICE_SHALL_IDS = [
    1, 2, 3, 4, 5, 6, 7, 9, 10, 13, 16, 29, 36, 54, 55, 56, 57, 59, 61, 74, 75, 80, 83, 85,
    87, 88, 89, 90, 92, 93, 95, 96, 98, 100, 103, 105, 107, 111, 115, 117, 119, 121, 124,
    125, 127, 128, 130, 131, 132, 133, 134, 135, 136, 138, 139, 141, 142, 144, 147, 168,
    176, 199, 201, 203, 208, 211, 213, 214, 216, 217, 218, 219, 220
]  # fmt: skip
SERVICE_SHALL_NOT_IDS = [3, 147, 201, 203]
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(SHALL(?: NOT)?)\s*\|(.*)\|\s*(.*?)\s*\|\s*$")
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[([^\]]+)\])?`")


def service_shalls() -> dict[int, str]:
    return {i: "SHALL NOT" if i in SERVICE_SHALL_NOT_IDS else "SHALL" for i in SERVICE_SHALL_IDS}


def test_the_kept_ids_match_the_requirements_csv() -> None:
    with REQUIREMENTS_CSV.open(encoding="utf-8") as handle:
        from_csv = {
            int(row["ID"]): row["Conformance"]
            for row in csv.DictReader(handle)
            if "Service" in row["Actors"] and row["Conformance"] in {"SHALL", "SHALL NOT"}
        }
    assert from_csv == service_shalls()


def table_rows() -> dict[int, tuple[str, str]]:
    rows: dict[int, tuple[str, str]] = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            ident = int(match.group(1))
            assert ident not in rows, f"requirement {ident} is listed twice"
            rows[ident] = (match.group(2), match.group(4))
    return rows


@cache
def _test_functions(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    )


@cache
def _module_constant(path: str, name: str) -> object:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    return None


def test_the_csv_has_73_service_shalls() -> None:
    assert len(service_shalls()) == 73


def test_every_service_shall_is_in_the_table() -> None:
    rows = table_rows()
    missing = sorted(set(service_shalls()) - set(rows))
    assert not missing, f"Service SHALLs missing from docs/conformance.md: {missing}"
    extra = sorted(set(rows) - set(service_shalls()))
    assert not extra, f"rows that are not Service SHALLs: {extra}"
    wrong_level = [i for i, (level, _) in rows.items() if level != service_shalls()[i]]
    assert not wrong_level, wrong_level


def test_every_row_has_tests_or_a_reason() -> None:
    for ident, (_, coverage) in table_rows().items():
        has_test = TEST_REF.search(coverage) is not None
        reasoned = "N/A:" in coverage
        assert has_test or reasoned, f"requirement {ident} has neither a test nor a reason"


def _named_tests(coverage: str) -> list[tuple[str, str, str | None]]:
    return [(m.group(1), m.group(2), m.group(3)) for m in TEST_REF.finditer(coverage)]


@pytest.mark.parametrize("ident", sorted(service_shalls()), ids=lambda i: f"req-{i:03d}")
def test_named_tests_exist(ident: int) -> None:
    _, coverage = table_rows()[ident]
    for path, name, case in _named_tests(coverage):
        assert (ROOT / path).is_file(), f"requirement {ident}: {path} does not exist"
        assert name in _test_functions(path), f"requirement {ident}: {path}::{name} not found"
        if case and case.startswith("req-"):
            requirements = _module_constant(path, "CARD_REQUIREMENTS")
            assert isinstance(requirements, list), f"{path} has no CARD_REQUIREMENTS"
            assert int(case[4:]) in requirements, f"requirement {ident}: no case {case}"


def test_no_row_is_pending() -> None:
    pending = sorted(i for i, (_, cov) in table_rows().items() if cov.startswith("pending:"))
    assert not pending, f"pending rows in docs/conformance.md: {pending}"


ORDER_ROW = re.compile(r"^\|\s*(ORD-\d+)\s*\|(.*)\|\s*(.*?)\s*\|\s*$")


def test_every_order_hook_row_names_existing_tests() -> None:
    rows = [m for line in TABLE.read_text("utf-8").splitlines() if (m := ORDER_ROW.match(line))]
    assert len(rows) >= 8
    for row in rows:
        named = _named_tests(row.group(3))
        assert named, f"{row.group(1)} names no test"
        for path, name, _ in named:
            assert name in _test_functions(path), f"{row.group(1)}: {path}::{name} not found"
