"""``make demo``: the service and a FHIR server with one demo patient per guideline rule.

Starts the test FHIR server (tests/fhir_server) loaded with the demo patients of
tests/fixtures/demo (dated relative to today), starts the CDS service on 127.0.0.1:8080 and
prints, for each patient, the URL that opens it in the CDS Hooks sandbox: a local build when
SANDBOX_DIR names one (served here as static files), and the public sandbox. Ctrl-C stops
everything.

Authentication is on: the service trusts the CDS Hooks sandbox (issuer
https://sandbox.cds-hooks.org, ES384) with the keys of ``--sandbox-jwks FILE``, else of the
SANDBOX_DIR build's ``.well-known/jwks.json``, else of the hosted sandbox's published JWK Set
(fetched by the service at the first call). ``--no-auth`` runs without authentication, which
the service allows only on a loopback address.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

from cds_service.settings import ConfigurationError, Settings
from tests.support.demo_fixtures import DEMO_PATIENTS, demo_bundles
from tests.support.fhir_server import FhirServerError, FhirServerUnavailable, start_fhir_server
from tests.support.sandbox_site import SandboxSite
from tests.support.service_thread import ServiceThread

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
PUBLIC_SANDBOX = "https://sandbox.cds-hooks.org"
PUBLIC_SANDBOX_JWKS = f"{PUBLIC_SANDBOX}/.well-known/jwks.json"
SERVICE_ID = "osteopenia-management"


def sandbox_url(base: str, *, discovery_url: str, fhir_base_url: str, patient_id: str) -> str:
    """The sandbox opened on one patient, with our discovery endpoint and FHIR server."""
    query = urlencode(
        {
            "serviceDiscoveryURL": discovery_url,
            "fhirServiceUrl": fhir_base_url,
            "patientId": patient_id,
        },
        safe=":/",  # readable, and the sandbox decodes either form
    )
    return f"{base}/?{query}"


def find_sandbox_jwks(explicit: Path | None, sandbox_dir: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    if sandbox_dir is not None:
        candidate = sandbox_dir / ".well-known" / "jwks.json"
        if candidate.is_file():
            return candidate
    return None


def write_issuer_file(folder: Path, jwks_path: Path | None, fhir_base_url: str) -> Path:
    """A trusted-issuers file that accepts the sandbox's JWT and its use of our FHIR server."""
    entry: dict[str, Any] = {"iss": SANDBOX_ISSUER, "fhir_servers": [fhir_base_url]}
    if jwks_path is not None:
        entry["jwks"] = json.loads(jwks_path.read_text(encoding="utf-8"))
        entry["description"] = f"CDS Hooks sandbox (keys from {jwks_path})"
    else:
        entry["jwks_url"] = PUBLIC_SANDBOX_JWKS
        entry["description"] = "CDS Hooks sandbox (its published keys)"
    path = folder / "trusted-issuers.json"
    path.write_text(json.dumps([entry], indent=2), encoding="utf-8")
    return path


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, default=8080, help="service port (default 8080)")
    parser.add_argument(
        "--sandbox-dir",
        type=Path,
        default=Path(os.environ["SANDBOX_DIR"]) if os.environ.get("SANDBOX_DIR") else None,
        help="a local build of the CDS Hooks sandbox to serve (default: $SANDBOX_DIR)",
    )
    parser.add_argument(
        "--sandbox-jwks",
        type=Path,
        default=None,
        help="the sandbox's public JWK Set (default: the sandbox build's .well-known/jwks.json)",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="do not check the caller's JWT (development; the service stays on 127.0.0.1)",
    )
    return parser.parse_args(argv)


class _Stop(Exception):
    """SIGTERM: leave like Ctrl-C."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    sandbox_dir: Path | None = args.sandbox_dir.resolve() if args.sandbox_dir else None
    if sandbox_dir is not None and not (sandbox_dir / "index.html").is_file():
        print(f"demo: {sandbox_dir} is not a sandbox build (no index.html)", file=sys.stderr)
        return 2
    jwks_path = find_sandbox_jwks(args.sandbox_jwks, sandbox_dir)
    if jwks_path is not None and not jwks_path.is_file():
        print(f"demo: no JWK Set at {jwks_path}", file=sys.stderr)
        return 2

    from cds_service.app import create_app
    from cds_service.security import check_startup_safety

    signal.signal(signal.SIGTERM, _on_sigterm)
    with ExitStack() as stack:
        try:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cds-demo-")))
            paths = []
            for patient_id, bundle in demo_bundles(date.today()).items():
                path = folder / f"{patient_id}.json"
                path.write_text(json.dumps(bundle), encoding="utf-8")
                paths.append(path)
            fhir = stack.enter_context(start_fhir_server(paths))

            settings = Settings.from_env()
            if not args.no_auth:
                issuers = write_issuer_file(folder, jwks_path, fhir.base_url)
                settings = dataclasses.replace(settings, trusted_issuers_file=issuers)
            check_startup_safety(settings, "127.0.0.1")
            app = create_app(settings)
            service = stack.enter_context(ServiceThread(app, port=args.port))
            site = stack.enter_context(SandboxSite(sandbox_dir)) if sandbox_dir else None
        except (ConfigurationError, FhirServerError, FhirServerUnavailable, OSError) as exc:
            print(f"demo: cannot start: {exc}", file=sys.stderr)
            return 1

        if args.no_auth:
            auth = "OFF (--no-auth: development, loopback only)"
        else:
            keys = jwks_path if jwks_path is not None else PUBLIC_SANDBOX_JWKS
            auth = f"on: trusts {SANDBOX_ISSUER} with the keys of {keys}"
        lines = [
            "osteopenia-cds demo",
            f"  CDS service    {service.discovery_url}   (authentication {auth})",
            f"  FHIR server    {fhir.base_url}   ({len(DEMO_PATIENTS)} demo patients)",
            "",
            "Patients (rules expected to speak):",
        ]
        for patient in DEMO_PATIENTS:
            rules = " ".join(patient.rules) or "none"
            lines.append(f"  {patient.patient_id:<28} {rules:<10} {patient.story}")

        def url_for(base: str, patient_id: str) -> str:
            return sandbox_url(
                base,
                discovery_url=service.discovery_url,
                fhir_base_url=fhir.base_url,
                patient_id=patient_id,
            )

        first = DEMO_PATIENTS[0].patient_id
        if site is not None:
            lines += ["", "Open in the local sandbox build (one URL per patient):"]
            lines += [f"  {url_for(site.url, p.patient_id)}" for p in DEMO_PATIENTS]
        lines += [
            "",
            "Open in the public sandbox (put another patient id in patientId for the others):",
            f"  {url_for(PUBLIC_SANDBOX, first)}",
        ]
        lines += ["", "Ctrl-C stops the service and the FHIR server.", ""]
        print("\n".join(lines), flush=True)

        try:
            threading.Event().wait()
        except (KeyboardInterrupt, _Stop):
            # A terminal's Ctrl-C (or a supervisor's SIGTERM) reaches the whole process group;
            # a second one must not cut the shutdown short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("demo: stopping", flush=True)
    print("demo: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run())
