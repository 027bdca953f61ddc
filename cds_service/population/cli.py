"""``osteopenia-cds population`` and ``osteopenia-cds bundles-to-ndjson``."""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from cds_service.settings import Settings

from .inputs import ExportFiles, NoInput, list_export
from .job import JobConfig, JobReport, run_job
from .summary_html import render_summary

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_REJECTED = 4  # the run completed for every patient it could read; some input was not


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    population = subparsers.add_parser(
        "population",
        help="care gaps of every patient of a FHIR Bulk Data export, on Apache Spark",
        description="Evaluate every patient of NDJSON_DIR with the patient-view rules. "
        f"Exit {EXIT_OK}: all input read; {EXIT_REJECTED}: done, but some input was "
        f"rejected (see OUT_DIR/rejects); {EXIT_USAGE}: bad arguments or no input.",
    )
    population.add_argument("ndjson_dir", type=Path, metavar="NDJSON_DIR")
    population.add_argument("--as-of", type=_date, required=True, help="evaluation date")
    population.add_argument("--out", type=Path, required=True, metavar="OUT_DIR")
    population.add_argument(
        "--master", help="Spark master URL (default local[*]; spark-submit's own when submitted)"
    )
    population.add_argument(
        "--partitions", type=_positive, help="patient partitions (default 2 per core)"
    )
    population.set_defaults(handler=run_population)

    convert = subparsers.add_parser(
        "bundles-to-ndjson",
        help="FHIR transaction/collection Bundles or resource folders to Bulk Data NDJSON",
    )
    convert.add_argument("inputs", type=Path, nargs="+", metavar="IN")
    convert.add_argument("--out", type=Path, required=True, metavar="DIR")
    convert.add_argument("--gzip", action="store_true", help="write Type.ndjson.gz files")
    convert.set_defaults(handler=run_convert)


_STARTED = time.monotonic()


def _say(message: str) -> None:
    elapsed = time.monotonic() - _STARTED
    print(f"osteopenia-cds population [{elapsed:6.1f} s]: {message}", file=sys.stderr, flush=True)


def run_population(args: argparse.Namespace) -> int:
    try:
        export = list_export(args.ndjson_dir)
    except NoInput as exc:
        _say(str(exc))
        return EXIT_USAGE
    try:
        import pyspark  # noqa: F401
    except ImportError:
        _say("needs PySpark: pip install 'osteopenia-cds[population]'")
        return EXIT_USAGE
    from pyspark.sql import SparkSession

    from .job import spark_session

    settings = Settings.from_env()
    check_engine(settings)
    embedded = SparkSession.getActiveSession() is not None  # e.g. a notebook's session
    spark = spark_session(args.master)
    try:
        report = run_population_job(spark, export, args.as_of, args.out, settings, args.partitions)
    finally:
        if not embedded:
            spark.stop()
    _say(
        f"{report.patients:,} patients, {report.cards:,} cards, {report.rejected:,} rejected "
        f"in {report.seconds:.1f} s; wrote {args.out}"
    )
    return EXIT_REJECTED if report.rejected else EXIT_OK


def check_engine(settings: Settings) -> None:
    """Build the engine once on the driver: a bad thresholds file stops the run here, with
    the service's own message, instead of failing every patient on the executors."""
    from cds_service.app import build_engine

    build_engine(settings)


def run_population_job(
    spark: Any,
    export: ExportFiles,
    as_of: date,
    out: Path,
    settings: Settings,
    partitions: int | None = None,
) -> JobReport:
    """Run the job and write every output; the report says what was read and rejected."""
    config = JobConfig(
        export=export, as_of=as_of, out=out, settings=settings, partitions=partitions
    )
    report = run_job(spark, config, progress=_say)
    write_rejects(report, out / "rejects")
    source = str(export.all[0].parent)
    (out / "summary.html").write_text(render_summary(report, as_of=as_of, source=source), "utf-8")
    return report


def write_rejects(report: JobReport, folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with (folder / "counts.csv").open("w", newline="", encoding="utf-8") as sink:
        writer = csv.writer(sink)
        writer.writerow(["kind", "count"])
        for kind, count in sorted(report.rejects.items()):
            writer.writerow([kind, count])
    with (folder / "examples.ndjson").open("wb") as sink:
        for example in report.examples:
            sink.write(orjson.dumps(example) + b"\n")


def run_convert(args: argparse.Namespace) -> int:
    from .convert import ConversionError, convert_to_ndjson

    try:
        counts = convert_to_ndjson(args.inputs, args.out, gzip_output=args.gzip)
    except ConversionError as exc:
        print(f"osteopenia-cds bundles-to-ndjson: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for rtype, count in sorted(counts.items()):
        print(f"{rtype}\t{count}")
    return EXIT_OK
