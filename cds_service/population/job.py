"""The Spark job: read the export, group each patient's resources, evaluate, write outputs.

Spark does the reading, the routing of each line to its patient (Spark SQL over the JSON
fields that say whose a resource is), the shuffle that brings a patient's resources together
(a groupBy on the patient id), the scheduling and the retries; Python workers then evaluate
each patient with the patient-view engine. Nothing about all the patients is ever held by
the driver: it collects only aggregates (counts per rule, band, route and kind of reject).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from cds_service.settings import Settings
from fhir_mappings.bundle import RELATIVE_REFERENCE, SUBJECT_FIELDS

from .evaluate import CARD_COLUMNS, NoPatientResource, evaluate_patient
from .inputs import ExportFiles
from .records import (
    EXAMPLE_CHARS,
    REFERENCE_DATA_TYPES,
    REJECT_MESSAGES,
    RejectKind,
    prefetch_types,
)

EXAMPLES_PER_KIND = 5
LOOPBACK_MASTERS = ("local", "spark://127.0.0.1:", "spark://localhost:")


@dataclass(frozen=True, slots=True)
class JobConfig:
    export: ExportFiles
    as_of: date
    out: Path
    settings: Settings
    partitions: int | None = None


@dataclass(slots=True)
class JobReport:
    patients: int = 0
    cards: int = 0
    lines: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    not_read: Counter[str] = field(default_factory=Counter)  # resource type → count
    reference_data: int = 0  # Medication resources, joined to the orders citing them
    examples: list[dict[str, Any]] = field(default_factory=list)
    by_rule: list[dict[str, Any]] = field(default_factory=list)
    by_band: list[dict[str, Any]] = field(default_factory=list)
    patients_by_band: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        return sum(self.rejects.values())


# ---- Spark session ---------------------------------------------------------------------


def is_loopback(master: str) -> bool:
    return master.startswith(LOOPBACK_MASTERS)


def spark_session(master: str | None, *, extra: dict[str, str] | None = None) -> Any:
    """A SparkSession on ``master`` (default ``local[*]``; under spark-submit, its master).

    On a loopback master the driver binds to 127.0.0.1 only; on a real cluster the executors
    must reach the driver, so the address is left to the cluster's configuration.
    """
    from pyspark.sql import SparkSession

    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit made the JVM already
    builder = SparkSession.builder.appName("osteopenia-cds population")
    if master or not submitted:
        master = master or "local[*]"
        builder = builder.master(master)
    # Under spark-submit without --master here, the submitter's configuration decides.
    if master is not None and is_loopback(master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    # Python workers run the driver's interpreter (where the package is installed) unless
    # the cluster says otherwise; PySpark reads the variable when the context starts.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "true" if sys.stderr.isatty() else "false",
        **(extra or {}),
    }
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


# ---- routing, in Spark SQL (JVM): whose each line is --------------------------------------

ROUTE_PATIENT = "patient"
ROUTE_REFERENCE = "reference-data"  # Medication: broadcast, joined to the orders citing it
ROUTE_NOT_READ = "not-read"  # a type the patient-view prefetch does not ask for
REJECT_PREFIX = "reject:"
PATIENT_REJECTS = (RejectKind.NO_PATIENT_RESOURCE.value, RejectKind.EVALUATION_FAILED.value)
LINE_REJECTS = tuple(kind.value for kind in RejectKind if kind.value not in PATIENT_REJECTS)


def _probe_schema() -> Any:
    """The few fields routing needs; Spark's JSON reader skips the rest of each line."""
    from pyspark.sql.types import StringType, StructField, StructType

    reference = StructType([StructField("reference", StringType())])
    return StructType(
        [
            StructField("resourceType", StringType()),
            StructField("id", StringType()),
            StructField("subject", reference),
            StructField("patient", reference),
            StructField("_corrupt_record", StringType()),
        ]
    )


def routed_lines(spark: Any, paths: list[str]) -> Any:
    """Every non-blank line with ``route``, ``patient_id``, ``resource_type``, ``file``,
    ``ordinal`` (file order within a partition) and the line itself as ``value``."""
    from pyspark.sql import functions as F

    lines = (
        spark.read.text(paths)  # gzip by extension; large files split across tasks
        .select("value", F.col("_metadata.file_name").alias("file"))
        .withColumn("ordinal", F.monotonically_increasing_id())
        .filter(F.trim("value") != "")
    )
    probe = F.from_json(
        "value",
        _probe_schema(),
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"},
    )
    parsed = lines.withColumn("j", probe)
    rtype = F.col("j.resourceType")

    def patient_of(field: str) -> Any:
        # One match per reference: "Type/id" (and any /_history/n), then its Patient id.
        matched = F.regexp_extract(F.col(f"j.{field}.reference"), RELATIVE_REFERENCE.pattern, 0)
        return F.when(matched.startswith("Patient/"), F.split(matched, "/").getItem(1))

    rid = F.when(F.col("j.id") != "", F.col("j.id"))
    key = F.when(rtype == "Patient", rid).otherwise(
        F.coalesce(*(patient_of(field) for field in SUBJECT_FIELDS))
    )
    reject = {kind: F.lit(REJECT_PREFIX + kind.value) for kind in RejectKind}
    # Not the probe's shape: bad JSON, or JSON that is no resource object (an array, or
    # fields of the wrong type); only these lines are parsed a second time, to tell which.
    unreadable = F.col("j").isNull() | F.col("j._corrupt_record").isNotNull()
    route = (
        F.when(unreadable & F.try_parse_json("value").isNull(), reject[RejectKind.MALFORMED_LINE])
        .when(unreadable | rtype.isNull(), reject[RejectKind.NOT_A_RESOURCE])
        .when(rtype.isin(*REFERENCE_DATA_TYPES), F.lit(ROUTE_REFERENCE))
        .when(~rtype.isin(*prefetch_types()), F.lit(ROUTE_NOT_READ))
        .when(key.isNull(), reject[RejectKind.NO_PATIENT])
        .otherwise(F.lit(ROUTE_PATIENT))
    )  # fmt: skip
    return parsed.select(
        "value",
        "file",
        "ordinal",
        route.alias("route"),
        key.alias("patient_id"),
        rtype.alias("resource_type"),
    )


# ---- the work of each patient partition (runs in the executors' Python workers) ---------


@lru_cache(maxsize=4)
def _engine(settings: Settings) -> Any:
    """The patient-view engine, built once per Python worker as the service builds it."""
    from cds_service.app import build_engine

    return build_engine(settings)


def evaluate_partition(
    groups: Iterable[Any], as_of: date, settings: Settings, medications: Any
) -> Iterator[tuple[str, Any]]:
    """Grouped input rows → tagged rows: ("card", row), ("patient", row), ("reject", row),
    and ("count", (route, resource type, lines)) for the groups of lines not evaluated."""
    engine = _engine(settings)
    meds = medications.value if medications is not None else {}
    for route, resource_type, key, values, count in groups:
        if route != ROUTE_PATIENT:
            yield "count", (route, resource_type, count)
            continue
        try:
            result = evaluate_patient(key, values, as_of=as_of, engine=engine, medications=meds)
        except NoPatientResource as exc:
            yield "reject", (RejectKind.NO_PATIENT_RESOURCE.value, key, str(exc), count)
            continue
        except Exception as exc:  # one patient's failure must not stop everyone else's run
            message = f"{type(exc).__name__}: {exc}"[:500]
            yield "reject", (RejectKind.EVALUATION_FAILED.value, key, message, count)
            continue
        yield "patient", (*result.patient, count)
        for row in result.cards:
            yield "card", row


# ---- the driver ------------------------------------------------------------------------


def _paths(files: Iterable[Path]) -> list[str]:
    return [p.resolve().as_uri() for p in files]


def _medications(spark: Any, export: ExportFiles) -> Any:
    """Medication resources by ``Medication/id``: a formulary, not a patient list, so its size
    does not grow with the number of patients; broadcast to every executor."""
    if not export.reference_data:
        return None
    routed = routed_lines(spark, _paths(export.reference_data))
    medications = {}
    for row in routed.filter(routed.route == ROUTE_REFERENCE).select("value").toLocalIterator():
        resource = orjson.loads(row["value"])
        if isinstance(resource.get("id"), str):
            medications[f"Medication/{resource['id']}"] = resource
    return spark.sparkContext.broadcast(medications)


ROW_COLUMNS = (
    "tag",  # card, patient or reject
    *CARD_COLUMNS,
    "kind",  # of a reject; the route of a count
    "message",  # of a reject; the resource type of a count
    "lines",  # lines read: of the patient, or of that route and type for a count
)


def _row_schema() -> Any:
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    return StructType(
        [
            StructField(name, IntegerType() if name in ("age", "lines") else StringType(), True)
            for name in ROW_COLUMNS
        ]
    )


_EMPTY_CARD = (None,) * len(CARD_COLUMNS)
_SEX, _BAND = CARD_COLUMNS.index("sex"), CARD_COLUMNS.index("age_band")


def to_row(tagged: tuple[str, Any]) -> tuple[Any, ...]:
    """A tagged result as one row of the job's single result table."""
    tag, value = tagged
    if tag == "card":
        return (tag, *value, None, None, None)
    if tag == "patient":
        patient_id, sex, band, _, count = value
        card = list(_EMPTY_CARD)
        card[0], card[_SEX], card[_BAND] = patient_id, sex, band
        return (tag, *card, None, None, count)
    if tag == "count":
        route, resource_type, count = value
        return (tag, *_EMPTY_CARD, route, resource_type, count)
    kind, patient_id, message, count = value  # a reject
    return (tag, patient_id, *_EMPTY_CARD[1:], kind, message, count)


def run_job(spark: Any, config: JobConfig, *, progress: Any = None) -> JobReport:
    """Evaluate every patient once (Python), then derive every output from the cached result
    table in the JVM: Parquet, the sorted CSV, the aggregates, the rejects."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    say = progress or (lambda message: None)
    started = time.monotonic()
    sc = spark.sparkContext
    partitions = config.partitions or max(2, sc.defaultParallelism * 2)
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    # Adaptive execution would merge small shuffle partitions into one: here a partition of
    # patients is the unit of Python evaluation, so merging them would idle all cores but one.
    spark.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    out = config.out
    out.mkdir(parents=True, exist_ok=True)

    medications = _medications(spark, config.export)
    as_of, settings = config.as_of, config.settings
    say(f"reading {len(config.export.all)} files, grouping by patient ({partitions} partitions)")
    routed = routed_lines(spark, _paths(config.export.all))
    # One pass over the input: a patient's lines are grouped under its id; every other line
    # is only counted, by route and type (partial counts are combined before the shuffle).
    patient = routed.route == ROUTE_PATIENT
    grouped = routed.groupBy(
        "route",
        F.when(~patient, routed.resource_type).alias("resource_type"),
        F.when(patient, routed.patient_id).alias("patient_id"),
    ).agg(F.collect_list(F.when(patient, routed.value)).alias("lines"), F.count("*"))
    results = grouped.rdd.mapPartitions(
        lambda rows: evaluate_partition(rows, as_of, settings, medications)
    ).map(to_row)
    table = spark.createDataFrame(results, _row_schema(), verifySchema=False).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    try:
        cards = table.filter(table.tag == "card").select(*CARD_COLUMNS)
        say("evaluating patients, writing care_gaps.parquet")
        parquet = out / "care_gaps.parquet"
        cards.write.mode("overwrite").partitionBy("rule").parquet(str(parquet.resolve()))

        say("writing care_gaps.csv")
        write_single_csv(cards.orderBy("patient_id", "rule"), out / "care_gaps.csv")

        say("counting")
        report = JobReport()
        _aggregate(table, report)
        if any(kind in report.rejects for kind in LINE_REJECTS):
            _line_examples(routed, report)
        if any(kind in report.rejects for kind in PATIENT_REJECTS):
            _patient_examples(table, report)
    finally:
        table.unpersist()
    report.seconds = time.monotonic() - started
    return report


def _aggregate(table: Any, report: JobReport) -> None:
    """Every count of the report in one aggregation of the result table (a few hundred rows):
    cards per rule, indicator, age band and sex; patients per band and sex; lines per route
    and type; rejects per kind."""
    from pyspark.sql import functions as F

    is_count = table.tag == "count"
    grouped = (
        table.groupBy(
            "tag",
            "rule",
            "indicator",
            "age_band",
            "sex",
            "kind",
            F.when(is_count, table.message).alias("resource_type"),
        )
        .agg(F.count("*").alias("n"), F.sum("lines").alias("lines"))
        .collect()
    )
    by_rule: Counter[tuple[str, str]] = Counter()
    by_band: Counter[tuple[str, str, str]] = Counter()
    patients: Counter[tuple[str, str]] = Counter()
    for row in grouped:
        tag, n, lines = row["tag"], row["n"], row["lines"] or 0
        report.lines += lines
        if tag == "card":
            by_rule[(row["rule"], row["indicator"])] += n
            by_band[(row["rule"], row["age_band"], row["sex"])] += n
        elif tag == "patient":
            patients[(row["age_band"], row["sex"])] += n
        elif tag == "reject":
            report.rejects[row["kind"]] += n
        elif row["kind"].startswith(REJECT_PREFIX):
            report.rejects[row["kind"].removeprefix(REJECT_PREFIX)] += lines
        elif row["kind"] == ROUTE_NOT_READ:
            report.not_read[row["resource_type"]] += lines
        elif row["kind"] == ROUTE_REFERENCE:
            report.reference_data += lines
    report.by_rule = [
        {"rule": r, "indicator": i, "count": n} for (r, i), n in sorted(by_rule.items())
    ]
    report.by_band = [
        {"rule": r, "age_band": b, "sex": x, "count": n} for (r, b, x), n in sorted(by_band.items())
    ]
    report.patients_by_band = [
        {"age_band": b, "sex": x, "count": n} for (b, x), n in sorted(patients.items())
    ]
    report.patients = sum(patients.values())
    report.cards = sum(by_rule.values())


def _line_examples(routed: Any, report: JobReport) -> None:
    """The first rejected lines of each kind, in file order: a second pass over the input,
    made only when the first one counted rejects."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first = Window.partitionBy("route").orderBy("ordinal")
    examples = (
        routed.filter(routed.route.startswith(REJECT_PREFIX))
        .withColumn("n", F.row_number().over(first))
        .filter(F.col("n") <= EXAMPLES_PER_KIND)
        .select("route", "file", "ordinal", F.substring("value", 1, EXAMPLE_CHARS).alias("line"))
        .orderBy("route", "ordinal")
        .collect()
    )
    for row in examples:
        kind = RejectKind(row["route"].removeprefix(REJECT_PREFIX))
        report.examples.append(
            {
                "kind": kind.value,
                "file": row["file"],
                "message": REJECT_MESSAGES.get(kind, ""),
                "line": row["line"],
            }
        )


def _patient_examples(table: Any, report: JobReport) -> None:
    """The first patients (by id) of each kind of patient reject."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rejected = table.filter(table.tag == "reject")
    first = Window.partitionBy("kind").orderBy("patient_id")
    examples = (
        rejected.withColumn("n", F.row_number().over(first))
        .filter(F.col("n") <= EXAMPLES_PER_KIND)
        .orderBy("kind", "patient_id")
        .select("kind", "patient_id", "message")
        .collect()
    )
    report.examples += [row.asDict() for row in examples]


def write_single_csv(frame: Any, target: Path) -> None:
    """One CSV file with a header, written in parallel as parts and then concatenated in
    partition order (the frame is sorted, so the file is too), streamed, never collected."""
    parts_dir = target.with_name(target.name + ".parts")
    shutil.rmtree(parts_dir, ignore_errors=True)
    (
        frame.write.mode("overwrite")
        .option("header", "false")
        .option("quote", '"')
        .option("escape", '"')  # RFC 4180: a quote inside a field is doubled
        .option("encoding", "UTF-8")
        .csv(str(parts_dir.resolve()))
    )
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("wb") as sink:
        sink.write((",".join(frame.columns) + "\n").encode("utf-8"))
        for part in sorted(parts_dir.glob("part-*")):
            with part.open("rb") as source:
                shutil.copyfileobj(source, sink, 1 << 20)
    tmp.replace(target)
    shutil.rmtree(parts_dir, ignore_errors=True)
