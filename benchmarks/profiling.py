"""Where the time of a large request goes: pyinstrument over repeated calls.

For each profiled case it keeps the HTML report in the results folder and returns the
functions with the most inclusive and the most self time, so the report names hot spots by
file and function.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.frame import Frame

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("cds_service", "fhir_mappings", "benchmarks")


@dataclass(frozen=True)
class Hotspot:
    where: str  # package/module.py:function
    self_ms: float  # per call
    total_ms: float  # per call, inclusive
    share: float  # of the profiled time

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "self_ms": self.self_ms,
            "total_ms": self.total_ms,
            "share": self.share,
        }


@dataclass(frozen=True)
class ProfileResult:
    name: str
    calls: int
    per_call_ms: float
    hotspots: tuple[Hotspot, ...]
    html: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "calls": self.calls,
            "per_call_ms": self.per_call_ms,
            "hotspots": [h.to_json() for h in self.hotspots],
            "html": str(self.html.relative_to(REPO_ROOT)),
        }


def _where(frame: Frame) -> str | None:
    path = frame.file_path or ""
    for package in PROJECT_PACKAGES:
        marker = f"/{package}/"
        if marker in path and "/site-packages/" not in path:
            module = package + "/" + path.split(marker, 1)[1]
            return f"{module}:{frame.function}"
    if "/json/" in path or path.endswith("json/__init__.py"):
        return f"json:{frame.function}"
    return None


def _aggregate(root: Frame, calls: int) -> tuple[Hotspot, ...]:
    """Self time per project function (library time charged to the project frame that
    called it); inclusive time per project function, counted once per stack."""
    self_time: dict[str, float] = {}
    total_time: dict[str, float] = {}

    def walk(frame: Frame, owner: str | None, on_stack: frozenset[str]) -> None:
        where = _where(frame)
        if where is not None:
            owner = where
            if where not in on_stack:
                total_time[where] = total_time.get(where, 0.0) + frame.time
                on_stack = on_stack | {where}
        if owner is not None:
            # Exact self time: the frame's time less its children's (pyinstrument's own
            # "[self]" frames are children too, so they are counted once, here).
            own = frame.time - sum(child.time for child in frame.children)
            self_time[owner] = self_time.get(owner, 0.0) + max(own, 0.0)
        for child in frame.children:
            walk(child, owner, on_stack)

    walk(root, None, frozenset())
    overall = root.time or 1.0
    ranked = sorted(self_time.items(), key=lambda kv: kv[1], reverse=True)[:12]
    return tuple(
        Hotspot(
            where=where,
            self_ms=spent * 1000 / calls,
            total_ms=total_time.get(where, spent) * 1000 / calls,
            share=spent / overall,
        )
        for where, spent in ranked
    )


def profile_calls(
    name: str, fn: Callable[[], Any], *, budget_s: float, out_dir: Path, min_calls: int = 3
) -> ProfileResult:
    fn()  # warm
    profiler = Profiler(interval=0.0005)
    calls = 0
    profiler.start()
    started = time.perf_counter()
    while calls < min_calls or time.perf_counter() - started < budget_s:
        fn()
        calls += 1
    elapsed = time.perf_counter() - started
    session = profiler.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    html = out_dir / f"profile-{slug}.html"
    html.write_text(profiler.output_html())
    root = session.root_frame()
    hotspots = _aggregate(root, calls) if root is not None else ()
    return ProfileResult(name, calls, elapsed * 1000 / calls, hotspots, html)
