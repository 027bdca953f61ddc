"""The trusted-issuers file (``CDS_TRUSTED_ISSUERS_FILE``): which CDS Clients may call us.

A JSON array, one object per EHR (or per tenant of a multi-tenant issuer)::

    [{"iss": "https://ehr.example.org",
      "jwks_url": "https://ehr.example.org/.well-known/jwks.json",   # or "jwks": {...}
      "fhir_servers": ["https://ehr.example.org/fhir/r4"],
      "tenant": "optional opaque organisation id",
      "sub": "optional: the sub claim this EHR sends (e.g. our client id)",
      "description": "optional, for humans"}]

The whole file is checked at start-up; any mistake stops the service with a message that
names the entry and the field, because a half-understood trust configuration is worse than
none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cds_service.security.keys import JwksError, VerificationKey, parse_jwk_set
from cds_service.security.urls import UrlError, canonical_url, is_loopback_host
from cds_service.settings import (
    ConfigurationError,
    read_json_setting_file,
    setting_file_error,
)

_FIELDS = frozenset({"iss", "jwks_url", "jwks", "fhir_servers", "tenant", "sub", "description"})
_MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    iss: str
    jwks_urls: tuple[str, ...]  # as configured; also the only acceptable `jku` values
    inline_keys: Mapping[str, VerificationKey] | None
    fhir_servers: tuple[str, ...]  # canonical base URLs, no trailing slash
    tenant: str | None = None
    sub: str | None = None

    @property
    def label(self) -> str:
        return self.iss if self.tenant is None else f"{self.iss} (tenant {self.tenant})"


class IssuerRegistry:
    """Trusted issuers by ``iss``; several entries per ``iss`` only when each names a tenant."""

    def __init__(self, issuers: list[TrustedIssuer]) -> None:
        self._by_iss: dict[str, list[TrustedIssuer]] = {}
        for issuer in issuers:
            self._by_iss.setdefault(issuer.iss, []).append(issuer)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_iss.values())

    def __iter__(self):  # type: ignore[no-untyped-def]
        for entries in self._by_iss.values():
            yield from entries

    def known(self, iss: str) -> bool:
        return iss in self._by_iss

    def select(self, iss: str, tenant: Any) -> TrustedIssuer | None:
        """The entry for this iss and (when the entry names one) this tenant, else None."""
        for issuer in self._by_iss.get(iss, ()):
            if issuer.tenant is None or issuer.tenant == tenant:
                return issuer
        return None


def _fail(path: Path, where: str, problem: str) -> ConfigurationError:
    return setting_file_error("CDS_TRUSTED_ISSUERS_FILE", path, where, problem)


def _url(value: Any, *, production: bool, what: str, allow_loopback_http: bool) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string URL")
    try:
        canonical = canonical_url(value)
    except UrlError as exc:
        raise ValueError(f"{what} {value!r}: {exc}") from None
    if canonical.startswith("http://"):
        host = urlsplit(canonical).hostname
        if production or not (allow_loopback_http and is_loopback_host(host)):
            raise ValueError(
                f"{what} {value!r} must use https"
                + ("" if production else " (http only for a loopback host in development)")
            )
    return canonical


def _parse_entry(raw: Any, *, production: bool) -> TrustedIssuer:
    if not isinstance(raw, Mapping):
        raise ValueError("must be a JSON object")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_FIELDS))}"
        )
    iss = raw.get("iss")
    if not isinstance(iss, str) or not iss.strip() or len(iss) > 2048 or iss != iss.strip():
        raise ValueError("'iss' must be a non-empty string without surrounding spaces")

    has_url, has_set = "jwks_url" in raw, "jwks" in raw
    if has_url == has_set:
        raise ValueError(
            "give exactly one of 'jwks_url' (where the EHR publishes its JWK Set) "
            "or 'jwks' (the JWK Set itself)"
        )
    jwks_urls: tuple[str, ...] = ()
    inline: dict[str, VerificationKey] | None = None
    if has_url:
        urls = raw["jwks_url"]
        urls = [urls] if isinstance(urls, str) else urls
        if not isinstance(urls, list) or not urls:
            raise ValueError("'jwks_url' must be a URL or a non-empty array of URLs")
        for url in urls:
            _url(url, production=production, what="jwks_url", allow_loopback_http=True)
        jwks_urls = tuple(urls)
    else:
        try:
            inline = parse_jwk_set(raw["jwks"], strict=True, source="jwks")
        except JwksError as exc:
            raise ValueError(str(exc)) from None

    servers = raw.get("fhir_servers")
    if not isinstance(servers, list):
        raise ValueError(
            "'fhir_servers' must be an array of the FHIR base URLs this EHR may send as "
            "fhirServer (an empty array if it never asks us to fetch)"
        )
    fhir_servers = tuple(
        _url(s, production=production, what="fhir_servers entry", allow_loopback_http=True).rstrip(
            "/"
        )
        for s in servers
    )
    optional: dict[str, str | None] = {}
    for name in ("tenant", "sub", "description"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"'{name}' must be a non-empty string when given")
        optional[name] = value
    return TrustedIssuer(
        iss=iss,
        jwks_urls=jwks_urls,
        inline_keys=inline,
        fhir_servers=fhir_servers,
        tenant=optional["tenant"],
        sub=optional["sub"],
    )


def load_trusted_issuers(path: Path, *, production: bool) -> IssuerRegistry:
    """Read and check the whole file; raise ConfigurationError naming the first problem."""
    data = read_json_setting_file("CDS_TRUSTED_ISSUERS_FILE", path, _MAX_FILE_BYTES)
    if not isinstance(data, list):
        raise _fail(path, "top level", "must be a JSON array of issuer objects")
    if not data:
        raise _fail(
            path,
            "top level",
            "lists no issuer; unset CDS_TRUSTED_ISSUERS_FILE to run without authentication "
            "(development, loopback only)",
        )
    issuers: list[TrustedIssuer] = []
    for index, raw in enumerate(data):
        label = f"entry {index}"
        if isinstance(raw, Mapping) and isinstance(raw.get("iss"), str):
            label += f" ({raw['iss']})"
        try:
            issuers.append(_parse_entry(raw, production=production))
        except ValueError as exc:
            raise _fail(path, label, str(exc)) from None

    seen: dict[str, list[str | None]] = {}
    for issuer in issuers:
        tenants = seen.setdefault(issuer.iss, [])
        if issuer.tenant in tenants or (tenants and (issuer.tenant is None or None in tenants)):
            raise _fail(
                path,
                f"iss {issuer.iss}",
                "listed more than once; several entries for one iss must each name a "
                "different tenant",
            )
        tenants.append(issuer.tenant)
    return IssuerRegistry(issuers)
