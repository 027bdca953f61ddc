"""The store's subcommands of ``osteopenia-cds``: ``db upgrade`` and ``report``."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from cds_service.settings import Settings
from cds_service.store import open_store
from cds_service.store.analytics import BadPeriod, build_report, parse_period
from cds_service.store.db import current_revision
from cds_service.store.report import render_csv, render_table


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = subparsers.add_parser("db", help="manage the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", help="apply schema migrations (also done at service start-up)"
    )
    upgrade.set_defaults(handler=run_db_upgrade)

    report = subparsers.add_parser(
        "report",
        help="per-rule card analytics: cards issued, shown, silent, suppressed, accepted and "
        "overridden",
    )
    report.add_argument("--since", help="start date (YYYY-MM-DD) or RFC 3339 date-time")
    report.add_argument("--until", help="end date (inclusive, YYYY-MM-DD) or date-time")
    report.add_argument("--format", choices=("table", "csv"), default="table")
    report.set_defaults(handler=run_report)


def run_db_upgrade(
    args: argparse.Namespace, settings: Settings | None = None, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    settings = settings or Settings.from_env()
    try:
        store = open_store(settings, migrate=True)
        revision = current_revision(store.engine)
    except SQLAlchemyError as exc:
        print(f"osteopenia-cds db upgrade: database error: {type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"database schema at revision {revision} ({store.engine.dialect.name})", file=out)
    store.engine.dispose()
    return 0


def run_report(
    args: argparse.Namespace, settings: Settings | None = None, out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    settings = settings or Settings.from_env()
    try:
        period = parse_period(args.since, args.until)
    except BadPeriod as exc:
        print(f"osteopenia-cds report: {exc}", file=sys.stderr)
        return 2
    try:
        store = open_store(settings, migrate=True)
        report = build_report(store.engine, period)
    except SQLAlchemyError as exc:
        print(f"osteopenia-cds report: database error: {type(exc).__name__}", file=sys.stderr)
        return 1
    store.engine.dispose()
    out.write(render_csv(report) if args.format == "csv" else render_table(report))
    return 0
