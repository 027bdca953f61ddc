"""One real local Spark session for all population tests (starting a JVM costs seconds), and
the fixture patients converted to Bulk Data NDJSON once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds_service.population.convert import convert_to_ndjson
from cds_service.population.job import spark_session

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # copies; see its README.md
SYNTHEA = FIXTURES / "synthea"
ECQM = FIXTURES / "ecqm"


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    session = spark_session(
        "local[2]",
        extra={
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.driver.memory": "1g",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def fixture_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fixture-ndjson")
    convert_to_ndjson([SYNTHEA, ECQM], out)
    return out
