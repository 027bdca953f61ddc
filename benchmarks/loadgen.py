"""A closed-loop HTTP/1.1 load generator in separate processes.

Each client process keeps one connection to the server and sends the same POST again as soon
as the previous answer is complete, recording each latency. Raw sockets with the request
bytes built once keep the client's own cost per request to a few tens of microseconds, so on
a small machine the server, not the generator, is what is measured. Connections are reused
when the server keeps them alive and reopened when it closes them (gunicorn's sync workers
close after every answer; the reconnect is part of the measured latency, as for a client).
"""

from __future__ import annotations

import multiprocessing as mp
import socket
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from benchmarks.stats import Summary, summarize


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latency: Summary
    statuses: dict[int, int]

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": self.seconds,
            "throughput_rps": self.throughput,
            "latency": self.latency.to_json(),
            "statuses": {str(k): v for k, v in self.statuses.items()},
        }


def build_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def open(self) -> socket.socket:
        if self.sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=30)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = sock
            self.buffer = b""
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buffer = b""

    def exchange(self, payload: bytes) -> int:
        """Send one request and read its whole answer; returns the HTTP status."""
        sock = self.open()
        sock.sendall(payload)
        buffer = self.buffer
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed before the headers")
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise ConnectionError("chunked answers are not expected here")
        while len(rest) < length:
            chunk = sock.recv(max(65536, length - len(rest)))
            if not chunk:
                raise ConnectionError("closed inside the body")
            rest += chunk
        self.buffer = rest[length:]
        if close or lines[0].startswith(b"HTTP/1.0"):
            self.close()
        return status


def _client(
    conn: Connection, host: str, port: int, payload: bytes, warmup_s: float, duration_s: float
) -> None:
    client = _Conn(host, port)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop_at = measure_from + duration_s
    while True:
        t0 = time.perf_counter()
        if t0 >= stop_at:
            break
        try:
            status = client.exchange(payload)
        except OSError:
            client.close()
            status = 0
        t1 = time.perf_counter()
        if t0 >= measure_from:
            latencies.append(t1 - t0)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 200:
                errors += 1
    client.close()
    conn.send((latencies, statuses, errors))
    conn.close()


def run_load(
    host: str,
    port: int,
    path: str,
    body: bytes,
    *,
    clients: int,
    duration_s: float,
    warmup_s: float = 1.0,
) -> LoadResult:
    """``clients`` processes hammer ``path`` for ``warmup_s + duration_s``; stats of the rest."""
    payload = build_request(host, port, path, body)
    ctx = mp.get_context("fork")
    pipes = []
    processes = []
    for _ in range(clients):
        parent, child = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_client, args=(child, host, port, payload, warmup_s, duration_s), daemon=True
        )
        process.start()
        child.close()
        pipes.append(parent)
        processes.append(process)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    for parent in pipes:
        if not parent.poll(warmup_s + duration_s + 120):
            raise RuntimeError("a load client did not report")
        got, got_statuses, got_errors = parent.recv()
        latencies += got
        errors += got_errors
        for status, count in got_statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    for process in processes:
        process.join(timeout=10)
    if not latencies:
        raise RuntimeError("no request completed")
    return LoadResult(
        requests=len(latencies) - errors,
        errors=errors,
        seconds=duration_s,
        latency=summarize(latencies),
        statuses=statuses,
    )
