"""The Spark job: read the export, group each patient's resources, evaluate, write outputs.

Spark does the reading, the shuffle that brings a patient's resources together (groupByKey
on the patient id), the scheduling and the retries. Nothing about all the patients is ever
held by the driver: it collects only aggregates (counts per rule, per band, per partition).
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

from .evaluate import CARD_COLUMNS, NoPatientResource, evaluate_patient
from .inputs import ExportFiles
from .records import RejectKind, example_text, route

EXAMPLES_PER_KIND = 5
_STATS = "\x00stats"  # key of a partition's counters; no patient id starts with a NUL
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
    if master is None or is_loopback(master):
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


# ---- the work of each partition (runs in the executors' Python workers) -----------------


def route_partition(index: int, lines: Iterable[tuple[str, str]]) -> Iterator[tuple[Any, Any]]:
    """(patient id, line) for each patient resource, then one (stats key, counters) record.

    Rejects are counted here, with the first few as examples, so bad input costs no shuffle.
    """
    counts: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    per_kind: Counter[str] = Counter()
    for ordinal, (path, line) in enumerate(lines):
        routed = route(line)
        if routed is None:
            continue
        counts["lines"] += 1
        if routed.patient_id is not None:
            yield routed.patient_id, line
        elif routed.reject is not None:
            kind = routed.reject.value
            counts[f"reject:{kind}"] += 1
            per_kind[kind] += 1
            if per_kind[kind] <= EXAMPLES_PER_KIND:
                examples.append(
                    {
                        "kind": kind,
                        "file": Path(path).name,
                        "order": [index, ordinal],
                        "message": routed.message,
                        "line": example_text(line),
                    }
                )
        else:
            counts[f"not-read:{routed.resource_type}"] += 1
    yield (_STATS, index), orjson.dumps({"counts": counts, "examples": examples})


@lru_cache(maxsize=4)
def _engine(settings: Settings) -> Any:
    """The patient-view engine, built once per Python worker as the service builds it."""
    from cds_service.app import build_engine

    return build_engine(settings)


def evaluate_partition(
    groups: Iterable[tuple[Any, Iterable[Any]]],
    as_of: date,
    settings: Settings,
    medications: Any,
) -> Iterator[tuple[str, Any]]:
    """Tagged rows: ("card", row), ("patient", row), ("reject", row), ("stats", json)."""
    engine = _engine(settings)
    meds = medications.value if medications is not None else {}
    for key, values in groups:
        if isinstance(key, tuple):
            for stats in values:
                yield "stats", stats
            continue
        try:
            result = evaluate_patient(key, values, as_of=as_of, engine=engine, medications=meds)
        except NoPatientResource as exc:
            yield "reject", (RejectKind.NO_PATIENT_RESOURCE.value, key, str(exc))
            continue
        except Exception as exc:  # one patient's failure must not stop everyone else's run
            message = f"{type(exc).__name__}: {exc}"[:500]
            yield "reject", (RejectKind.EVALUATION_FAILED.value, key, message)
            continue
        yield "patient", result.patient
        for row in result.cards:
            yield "card", row


# ---- the driver ------------------------------------------------------------------------


def _lines_with_path(sc: Any, paths: Iterable[Path]) -> Any:
    """(path, line) for every line of every file; gzip is read transparently."""
    rdds = [sc.textFile(str(p.resolve())).map(lambda line, p=str(p): (p, line)) for p in paths]
    return sc.union(rdds)


def _medications(sc: Any, export: ExportFiles) -> Any:
    """Medication resources by ``Medication/id``: a formulary, not a patient list, so its size
    does not grow with the number of patients; broadcast to every executor."""
    if not export.reference_data:
        return None
    pairs = (
        sc.union([sc.textFile(str(p.resolve())) for p in export.reference_data])
        .map(lambda line: (route(line), line))
        .filter(lambda item: item[0] is not None and item[0].reference_id is not None)
        .map(lambda item: (item[0].reference_id, orjson.loads(item[1])))
        .collectAsMap()
    )
    return sc.broadcast(dict(pairs))


ROW_COLUMNS = (
    "tag",  # card, patient, reject or stats
    *CARD_COLUMNS,
    "kind",  # of a reject
    "message",  # of a reject; a partition's counters (JSON) for stats
)


def _row_schema() -> Any:
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    return StructType(
        [
            StructField(name, IntegerType() if name == "age" else StringType(), True)
            for name in ROW_COLUMNS
        ]
    )


_EMPTY_CARD = (None,) * len(CARD_COLUMNS)
_SEX, _BAND = CARD_COLUMNS.index("sex"), CARD_COLUMNS.index("age_band")


def to_row(tagged: tuple[str, Any]) -> tuple[Any, ...]:
    """A tagged result as one row of the job's single result table."""
    tag, value = tagged
    if tag == "card":
        return (tag, *value, None, None)
    if tag == "patient":
        patient_id, sex, band, _ = value
        card = list(_EMPTY_CARD)
        card[0], card[_SEX], card[_BAND] = patient_id, sex, band
        return (tag, *card, None, None)
    if tag == "reject":
        kind, patient_id, message = value
        return (tag, patient_id, *_EMPTY_CARD[1:], kind, message)
    return (tag, *_EMPTY_CARD, None, value.decode("utf-8"))


def run_job(spark: Any, config: JobConfig, *, progress: Any = None) -> JobReport:
    """Evaluate every patient once (Python), then derive every output from the cached result
    table in the JVM: Parquet, the sorted CSV, the aggregates, the rejects."""
    from pyspark import StorageLevel

    say = progress or (lambda message: None)
    started = time.monotonic()
    sc = spark.sparkContext
    partitions = config.partitions or max(2, sc.defaultParallelism * 2)
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    out = config.out
    out.mkdir(parents=True, exist_ok=True)

    medications = _medications(sc, config.export)
    as_of, settings = config.as_of, config.settings
    say(f"reading {len(config.export.all)} files, grouping by patient ({partitions} partitions)")
    results = (
        _lines_with_path(sc, config.export.all)
        .mapPartitionsWithIndex(route_partition)
        .groupByKey(numPartitions=partitions)
        .mapPartitions(lambda groups: evaluate_partition(groups, as_of, settings, medications))
        .map(to_row)
    )
    table = spark.createDataFrame(results, _row_schema()).persist(StorageLevel.MEMORY_AND_DISK)
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
        _collect_rejects(table, report)
    finally:
        table.unpersist()
    report.seconds = time.monotonic() - started
    return report


def _aggregate(table: Any, report: JobReport) -> None:
    """Counts per rule, indicator, age band and sex (a few hundred rows at most)."""
    grouped = (
        table.filter(table.tag.isin("card", "patient"))
        .groupBy("tag", "rule", "indicator", "age_band", "sex")
        .count()
        .collect()
    )
    by_rule: Counter[tuple[str, str]] = Counter()
    by_band: Counter[tuple[str, str, str]] = Counter()
    patients: Counter[tuple[str, str]] = Counter()
    for row in grouped:
        if row["tag"] == "card":
            by_rule[(row["rule"], row["indicator"])] += row["count"]
            by_band[(row["rule"], row["age_band"], row["sex"])] += row["count"]
        else:
            patients[(row["age_band"], row["sex"])] += row["count"]
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


def _collect_rejects(table: Any, report: JobReport) -> None:
    """Partition counters (one row per input partition) and evaluation rejects (counted in
    Spark, the first few by kind and patient id taken as examples) merged into the report."""
    examples: list[dict[str, Any]] = []
    for row in table.filter(table.tag == "stats").select("message").collect():
        stats = orjson.loads(row["message"])
        for key, count in stats["counts"].items():
            if key == "lines":
                report.lines += count
            elif key.startswith("reject:"):
                report.rejects[key.removeprefix("reject:")] += count
            elif key.startswith("not-read:"):
                report.not_read[key.removeprefix("not-read:")] += count
        examples.extend(stats["examples"])
    examples.sort(key=lambda e: (e["kind"], e["order"]))
    kept: Counter[str] = Counter()
    report.examples = []
    for example in examples:
        kept[example["kind"]] += 1
        if kept[example["kind"]] <= EXAMPLES_PER_KIND:
            report.examples.append(example)

    rejected = table.filter(table.tag == "reject")
    for row in rejected.groupBy("kind").count().collect():
        report.rejects[row["kind"]] += row["count"]
    first = rejected.orderBy("kind", "patient_id").limit(EXAMPLES_PER_KIND * len(RejectKind))
    for row in first.select("kind", "patient_id", "message").collect():
        if kept[row["kind"]] < EXAMPLES_PER_KIND:
            kept[row["kind"]] += 1
            report.examples.append(row.asDict())


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
