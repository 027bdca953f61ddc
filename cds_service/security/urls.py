"""URL canonical forms shared by the JWT audience check and the fhirServer allow-list.

Two URLs name the same endpoint when scheme and host match case-insensitively and the port is
the same once a default port (80 for http, 443 for https) is made explicit. The path is compared
exactly: ``/cds-services/a`` and ``/cds-services/a/`` are different endpoints.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


class UrlError(ValueError):
    """A URL is not an absolute http(s) URL of the accepted shape."""


def canonical_url(url: str, *, keep_trailing_slash: bool = True) -> str:
    """``scheme://host[:port]/path`` with the scheme and host lower-cased and a default port
    dropped. Rejects user info (``user@host`` can disguise the real host), query and fragment."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise UrlError("not a URL")
    if any(ch.isspace() or ord(ch) < 0x20 or ch == "\\" for ch in url):
        raise UrlError("URL contains whitespace, control characters or backslashes")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UrlError("URL scheme must be http or https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlError("URL must not contain user information")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise UrlError("URL must not contain a query or fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlError("URL has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise UrlError("URL has an invalid port") from exc
    if ":" in host:  # IPv6 literal; urlsplit strips the brackets
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = parts.path
    if not keep_trailing_slash:
        path = path.rstrip("/")
    return f"{scheme}://{netloc}{path}"


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the default port filled in; raises UrlError."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise UrlError("not an absolute http(s) URL")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise UrlError("URL has an invalid port") from exc
    return scheme, parts.hostname.lower(), port


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and any loopback IP literal (127.0.0.0/8, ::1)."""
    if not host:
        return False
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
