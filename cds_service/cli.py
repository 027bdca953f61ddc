"""The ``osteopenia-cds`` command: ``serve`` the service, or ``evaluate`` one hook request file.

Subcommands are registered in ``build_parser``; each has a ``handler(args) -> int``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cds_service import gc_tuning
from cds_service.settings import ConfigurationError, Settings

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DATA_UNAVAILABLE = 3  # the 412 of the HTTP service


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    print(f"osteopenia-cds: {message}", file=sys.stderr)
    return code


def _serve(args: argparse.Namespace) -> int:
    from cds_service.security import check_startup_safety

    settings = Settings.from_env()
    check_startup_safety(settings, args.host)  # before anything listens or forks
    if not args.dev:
        from cds_service import server

        server.run(args.host, args.port, workers=args.workers, threads=args.threads)
        return EXIT_OK
    from cds_service.app import create_app

    app = create_app(settings)
    gc_tuning.settle_after_startup()
    app.run(host=args.host, port=args.port, threaded=True, debug=False, use_reloader=False)
    return EXIT_OK


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def evaluate_request(
    data: dict[str, Any], settings: Settings, *, as_of: date, engine: Any | None = None
) -> dict[str, Any]:
    """The service call without HTTP: validate, complete the prefetch, run the engine.

    Raises ServiceError exactly where the HTTP service would answer 4xx.
    """
    from cds_service.app import build_engine
    from cds_service.discovery import service_definitions
    from cds_service.errors import ServiceError
    from cds_service.fhir_client import FhirClient
    from cds_service.hook_request import validate_hook_request
    from cds_service.hooks import complete_prefetch
    from cds_service.service_response import service_response

    hook = data.get("hook")
    services = [s for s in service_definitions() if s.hook == hook]
    if not services:
        served = ", ".join(sorted({s.hook for s in service_definitions()}))
        raise ServiceError.single(
            400, f"No service for hook {hook!r}; hooks served: {served}.", expression="hook"
        )
    request = validate_hook_request(data, settings)
    client = FhirClient(settings)
    try:
        prefetch = complete_prefetch(services[0], request, settings, client)
    finally:
        client.close()
    engine = engine if engine is not None else build_engine(settings)
    if request.draft_orders is None:
        return service_response(
            engine.evaluate(prefetch, patient_id=request.patient_id, as_of=as_of)
        )
    answer = engine.evaluate_orders(
        prefetch,
        request.draft_orders,
        patient_id=request.patient_id,
        as_of=as_of,
        selections=request.selections,
    )
    for unread in answer.unread:
        print(f"draft not checked: {unread.reference}: {unread.reason}", file=sys.stderr)
    return service_response(answer.cards)


def _evaluate(args: argparse.Namespace) -> int:
    from cds_service.errors import ServiceError
    from cds_service.hook_request import parse_json_body

    settings = Settings.from_env()
    path: Path = args.request
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _fail(f"{path}: no such file", EXIT_USAGE)
    except IsADirectoryError:
        return _fail(f"{path}: is a directory, not a request file", EXIT_USAGE)
    except OSError as exc:
        return _fail(f"{path}: cannot read ({exc.strerror})", EXIT_USAGE)
    as_of = args.as_of or datetime.now(UTC).date()
    try:
        data = parse_json_body(raw, settings)
        response = evaluate_request(data, settings, as_of=as_of)
    except ServiceError as exc:
        code = EXIT_DATA_UNAVAILABLE if exc.status == 412 else EXIT_USAGE
        return _fail(f"{path}: {exc}", code)
    json.dump(response, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return EXIT_OK


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_server_options(serve: argparse.ArgumentParser) -> None:
    # Defaults: those of cds_service/gunicorn_conf.py, which the Docker image runs too.
    serve.add_argument(
        "--workers", type=_positive, default=None, help="gunicorn worker processes (default 2)"
    )
    serve.add_argument(
        "--threads",
        type=_positive,
        default=None,
        help="threads per worker, each serving one call at a time (default 16)",
    )
    serve.add_argument(
        "--dev",
        action="store_true",
        help="Flask's development server instead (one process; not for deployment)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osteopenia-cds", description="CDS Hooks 2.0.1 service for osteopenia management."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the CDS Hooks endpoints over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    _add_server_options(serve)
    serve.set_defaults(handler=_serve)

    evaluate = commands.add_parser(
        "evaluate", help="print the cards for a hook request file, without a server"
    )
    evaluate.add_argument("request", type=Path, metavar="REQUEST.json")
    evaluate.add_argument(
        "--as-of", type=_parse_date, default=None, help="evaluation date (default today, UTC)"
    )
    evaluate.set_defaults(handler=_evaluate)

    from cds_service.store.cli import add_subcommands as add_store_subcommands

    add_store_subcommands(commands)  # db upgrade, report

    from cds_service.population.cli import add_subcommands as add_population_subcommands

    add_population_subcommands(commands)  # population, bundles-to-ndjson
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigurationError as exc:
        return _fail(f"configuration error: {exc}", EXIT_USAGE)


if __name__ == "__main__":
    sys.exit(main())
