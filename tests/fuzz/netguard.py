"""Keep generated requests on this machine: only loopback may be resolved or connected to.

The fuzzers generate ``fhirServer`` URLs at random. The service refuses servers off its
allow-list, but a fuzzer must not depend on the code it tests for that: while the guard is
on, resolving a non-loopback name or connecting to a non-loopback address raises
``OSError`` inside the process, exactly as an unreachable server would.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}


class BlockedAddress(OSError):
    pass


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


@contextmanager
def loopback_only() -> Iterator[list[str]]:
    """Within the block, non-loopback lookups and connections fail; yields what was blocked."""
    blocked: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            blocked.append(f"resolve {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, "blocked: not a loopback name")
        return real_getaddrinfo(host, *args, **kwargs)

    def allowed(address: Any) -> bool:
        if isinstance(address, tuple) and address:
            return _is_loopback(address[0])
        return isinstance(address, str | bytes)  # AF_UNIX paths stay local

    def connect(self: socket.socket, address: Any) -> None:
        if not allowed(address):
            blocked.append(f"connect {address!r}")
            raise BlockedAddress(f"blocked: {address!r} is not loopback")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not allowed(address):
            blocked.append(f"connect {address!r}")
            raise BlockedAddress(f"blocked: {address!r} is not loopback")
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield blocked
    finally:
        socket.getaddrinfo = real_getaddrinfo  # type: ignore[assignment]
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
