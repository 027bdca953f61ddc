"""pytest fixtures around the test FHIR server.

Use them from a test folder's conftest.py:

    from tests.support.fhir_fixtures import fhir_server  # noqa: F401

`fhir_server` (session scope) is a RunningFhirServer loaded with two Synthea patients:

- SYNTHEA_DXA_PATIENT (Gayla Ferry, woman born 1937): DXA T-score -2.57 on 2017-08-03,
  osteoporosis, alendronate; 105 Observations; record ends 2020-08-20.
- SYNTHEA_NEGATIVE_PATIENT (Buster Hoeger, man born 1988): no bone data at all.

Tests must not change the data of this shared server; start a private one with
`start_fhir_server` for that.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from tests.support.fhir_server import SYNTHEA_FIXTURES, RunningFhirServer, start_fhir_server

SYNTHEA_DXA_BUNDLE = SYNTHEA_FIXTURES / "Gayla_Ferry_259bc6c6-9c1d-43e9-bd25-7539cf07f8ac.json"
SYNTHEA_DXA_PATIENT = "77155e2b-5d21-4b47-86f0-4004183d68b2"
SYNTHEA_DXA_SCAN_DATE = date(2017, 8, 3)
SYNTHEA_DXA_RECORD_END = date(2020, 8, 20)

SYNTHEA_NEGATIVE_BUNDLE = (
    SYNTHEA_FIXTURES / "Buster_Hoeger_ad2e3fc5-2b5d-4cb9-8d03-9ea0f4ac8423.json"
)
SYNTHEA_NEGATIVE_PATIENT = "e4531916-b162-4f4b-90c2-ce37e132b8d4"


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[RunningFhirServer]:
    with start_fhir_server([SYNTHEA_DXA_BUNDLE, SYNTHEA_NEGATIVE_BUNDLE]) as server:
        yield server
