"""Rendering of the analytics report for the command line: an aligned table or CSV.

``issued`` counts every card computed and logged; of those, ``shown`` were returned to the
EHR, ``silent`` were for a rule in silent mode for the caller and ``suppressed`` were held
back by a snooze after an override (neither reached a clinician).
"""

from __future__ import annotations

import csv
import io

from cds_service.store.analytics import NO_REASON, Report, RuleStats

CSV_COLUMNS = (
    "rule",
    "issued",
    "shown",
    "silent",
    "suppressed",
    "feedback",
    "accepted",
    "overridden",
    "acceptance_rate",
    "override_reasons",
)


def _rate(stats: RuleStats) -> str:
    rate = stats.acceptance_rate
    return "" if rate is None else f"{rate:.4f}"


def _reasons(stats: RuleStats) -> str:
    parts = []
    for entry in stats.reasons_json():
        label = entry.get("code") or NO_REASON
        parts.append(f"{label}={entry['count']}")
    return "; ".join(parts)


def _rows(report: Report) -> list[list[str]]:
    return [
        [
            s.rule,
            str(s.issued),
            str(s.shown),
            str(s.silent),
            str(s.suppressed),
            str(s.feedback),
            str(s.accepted),
            str(s.overridden),
            _rate(s),
            _reasons(s),
        ]
        for s in report.rules
    ]


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_rows(report))
    return buffer.getvalue()


def render_table(report: Report) -> str:
    header = [
        "rule",
        "issued",
        "shown",
        "silent",
        "suppressed",
        "feedback",
        "accepted",
        "overridden",
        "acceptance",
        "override reasons",
    ]
    rows = [
        [*row[:8], "-" if not row[8] else f"{float(row[8]):.0%}", row[9] or "-"]
        for row in _rows(report)
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = set(range(1, 9))

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    period = report.period.as_json()
    lines = [
        f"Card analytics from {period['since'] or 'the beginning'} "
        f"until {period['until'] or 'now'}",
        "",
        line(header),
        line(["-" * w for w in widths]),
    ]
    lines.extend(line(row) for row in rows)
    if not rows:
        lines.append("(no cards issued and no feedback received in this period)")
    if report.suggestions_accepted:
        lines.append("")
        lines.append("Accepted suggestions by kind:")
        for kind, count in sorted(report.suggestions_accepted.items()):
            lines.append(f"  {kind}: {count}")
    return "\n".join(lines) + "\n"
