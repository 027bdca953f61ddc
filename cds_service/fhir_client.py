"""The FHIR client of the fall-back fetch: what the EHR did not prefetch, the service reads.

Bounded in every direction, because it calls out while the clinician waits: connect and read
timeouts, one total deadline per hook request, a page cap with a loop guard, a response size
cap, and no redirects (a redirect could carry the EHR's token to another host). The access
token is sent only to the request's own ``fhirServer`` origin and never logged.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from cds_service.settings import Settings

FHIR_JSON = "application/fhir+json"
_CHUNK = 64 * 1024


class FhirFetchError(Exception):
    """The data could not be obtained; ``reason`` is a short phrase safe to show the caller."""

    reason = "fetch failed"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.reason)
        self.detail = detail or self.reason


class FhirTimeout(FhirFetchError):
    reason = "the FHIR server did not answer in time"


class FhirUnreachable(FhirFetchError):
    reason = "the FHIR server could not be reached"


class FhirHttpError(FhirFetchError):
    reason = "the FHIR server answered with an error"

    def __init__(self, status: int) -> None:
        self.status = status
        if status in (401, 403):
            detail = f"the FHIR server refused access (HTTP {status})"
        elif status == 404:
            detail = "the FHIR server does not have it (HTTP 404)"
        else:
            detail = f"the FHIR server answered HTTP {status}"
        super().__init__(detail)


class FhirRedirectRefused(FhirFetchError):
    reason = "the FHIR server answered with a redirect, which is not followed"


class FhirInvalidResponse(FhirFetchError):
    reason = "the FHIR server's answer is not FHIR JSON"


class FhirResponseTooLarge(FhirFetchError):
    reason = "the FHIR server's answer is larger than the configured cap"


class FhirPagingError(FhirFetchError):
    reason = "the search result's paging could not be followed"


class Deadline:
    """The time and the bytes all fetches of one hook request may use together.

    The byte budget is shared because parsing JSON holds the interpreter and cannot be
    interrupted: a per-response cap alone lets several large answers, parsed side by side,
    run far past the deadline.
    """

    def __init__(self, seconds: float, max_bytes: int | None = None) -> None:
        self.expires_at = time.monotonic() + seconds
        self._bytes_left = max_bytes
        self._lock = threading.Lock()

    def spend_bytes(self, count: int) -> None:
        if self._bytes_left is None:
            return
        with self._lock:
            self._bytes_left -= count
            exhausted = self._bytes_left < 0
        if exhausted:
            raise FhirResponseTooLarge(
                "the FHIR server's answers to this request together exceed the configured cap"
            )

    def remaining(self) -> float:
        return self.expires_at - time.monotonic()

    def check(self) -> float:
        left = self.remaining()
        if left <= 0:
            raise FhirTimeout()
        return left


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int | None

    @classmethod
    def of(cls, url: str) -> _Origin:
        parts = urlsplit(url)
        default = {"http": 80, "https": 443}.get(parts.scheme)
        return cls(parts.scheme, (parts.hostname or "").lower(), parts.port or default)


class FhirClient:
    """One pooled HTTP session for all fall-back fetches of the process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session = requests.Session()
        # Proxies and .netrc from the environment must not see (or add) credentials.
        self.session.trust_env = False
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=32, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def fetch(
        self,
        fhir_server: str,
        relative_url: str,
        *,
        access_token: str | None,
        deadline: Deadline,
    ) -> Any:
        """GET ``relative_url`` against ``fhir_server``; a searchset's pages are all read.

        Returns the resource, the Bundle (one page) or the list of Bundles (several pages).
        """
        base = fhir_server.rstrip("/") + "/"
        origin = _Origin.of(base)
        url = urljoin(base, relative_url)
        pages: list[dict[str, Any]] = []
        seen: set[str] = set()
        entries = 0
        while True:
            seen.add(url)
            body = self._get(url, access_token, deadline)
            if body.get("resourceType") != "Bundle":
                if pages:
                    raise FhirInvalidResponse("a next page of a search is not a Bundle")
                return body
            pages.append(body)
            entry = body.get("entry")
            if entry is not None and not isinstance(entry, list):
                raise FhirInvalidResponse("Bundle.entry is not an array")
            entries += len(entry or [])
            if entries > self.settings.max_prefetch_entries:
                raise FhirResponseTooLarge(
                    f"the search returned more than {self.settings.max_prefetch_entries} resources"
                )
            next_url = _next_link(body)
            if next_url is None:
                break
            next_url = urljoin(base, next_url)
            if _Origin.of(next_url) != origin:
                raise FhirPagingError("a next link points away from the FHIR server")
            if next_url in seen:
                raise FhirPagingError("the next links form a loop")
            if len(pages) >= self.settings.fhir_max_pages:
                raise FhirPagingError(
                    f"the search has more than {self.settings.fhir_max_pages} pages"
                )
            url = next_url
        return pages[0] if len(pages) == 1 else pages

    def _get(self, url: str, access_token: str | None, deadline: Deadline) -> dict[str, Any]:
        left = deadline.check()
        headers = {"Accept": FHIR_JSON}
        if access_token:
            headers["Authorization"] = f"Bearer {access_token}"
        timeout = (
            min(self.settings.fhir_connect_timeout, left),
            min(self.settings.fhir_read_timeout, left),
        )
        try:
            response = self.session.get(
                url, headers=headers, timeout=timeout, allow_redirects=False, stream=True
            )
        except requests.Timeout as exc:
            raise FhirTimeout() from exc
        except requests.RequestException as exc:
            raise FhirUnreachable(
                f"the FHIR server could not be reached ({type(exc).__name__})"
            ) from exc
        with response:
            if 300 <= response.status_code < 400:
                raise FhirRedirectRefused()
            if response.status_code != 200:
                raise FhirHttpError(response.status_code)
            raw = self._read_capped(response, deadline)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise FhirInvalidResponse() from exc
        deadline.check()  # a large answer may have taken the rest of the time to parse
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise FhirInvalidResponse("the answer is JSON but not a FHIR resource")
        if body["resourceType"] == "OperationOutcome":
            raise FhirInvalidResponse("the FHIR server answered with an OperationOutcome")
        return body

    def _read_capped(self, response: requests.Response, deadline: Deadline) -> bytes:
        cap = self.settings.fhir_max_response_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FhirResponseTooLarge()
        chunks: list[bytes] = []
        size = 0
        try:
            # read1: at most one socket read per call, so the deadline is checked after every
            # read. (iter_content blocks until a whole chunk arrives: a server sending a byte
            # per read timeout would hold this thread and its connection far past the deadline.)
            while chunk := response.raw.read1(_CHUNK, decode_content=True):
                size += len(chunk)
                if size > cap:
                    raise FhirResponseTooLarge()
                deadline.spend_bytes(len(chunk))
                deadline.check()
                chunks.append(chunk)
        except (requests.Timeout, urllib3.exceptions.TimeoutError) as exc:
            raise FhirTimeout() from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise FhirUnreachable("the connection broke while reading the answer") from exc
        return b"".join(chunks)


def _next_link(bundle: dict[str, Any]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url.strip():
                return url.strip()
    return None
