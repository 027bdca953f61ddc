"""The governance dashboard: one server-rendered HTML page over the analytics report.

No script and nothing fetched from elsewhere: a period form (plain GET), inline SVG charts
(what happened to each rule's cards over time, and the share that reached clinicians), and
the per-rule table the committee reads, with a link to the same table as CSV. Every value
that comes from the store is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from html import escape
from urllib.parse import urlencode

from cds_service.guideline.references import catalogue
from cds_service.store.analytics import NO_REASON, Report, RuleStats

# The series of the charts, with their colours (chosen to stay apart in grey-scale print).
SERIES = (
    ("shown", "#1f77b4"),
    ("silent", "#9e9e9e"),
    ("suppressed", "#ff7f0e"),
    ("accepted", "#2ca02c"),
    ("overridden", "#d62728"),
)
PRESETS = ((7, "7 days"), (30, "30 days"), (90, "90 days"), (365, "1 year"))
DEFAULT_DAYS = 30
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.muted{color:#666}form{margin:12px 0;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
nav a{margin-right:10px}table{border-collapse:collapse;width:100%;margin-top:8px}
th,td{border-bottom:1px solid #ddd;padding:5px 8px;text-align:right;vertical-align:top}
th:first-child,td:first-child,th:last-child,td.reasons{text-align:left}th{background:#f4f4f4}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:14px}
figure{margin:0;border:1px solid #e3e3e3;padding:8px}figcaption{font-weight:600}
"""


def default_period(today: date) -> tuple[str, str]:
    return (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), today.isoformat()


def _days(report: Report, today: date) -> list[date]:
    """Every day of the period (open ends: the data's first day, and today)."""
    seen = sorted({day for day, _ in report.timeline})
    since = report.period.since
    until = report.period.until
    first = since.date() if since else (date.fromisoformat(seen[0]) if seen else today)
    last = (until - timedelta(microseconds=1)).date() if until else today
    if seen and until is None:
        last = max(last, date.fromisoformat(seen[-1]))
    if last < first:
        return []
    count = min((last - first).days + 1, 3660)
    return [first + timedelta(days=i) for i in range(count)]


def _bucket_starts(days: Sequence[date]) -> tuple[list[date], str]:
    """Days, weeks (from Monday) or months, whichever keeps a chart readable."""
    if len(days) <= 92:
        return list(days), "day"
    if len(days) <= 730:
        starts = sorted({d - timedelta(days=d.weekday()) for d in days})
        return starts, "week"
    return sorted({d.replace(day=1) for d in days}), "month"


def _bucket_of(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def rule_series(
    report: Report, rule: str, buckets: Sequence[date], unit: str
) -> dict[str, list[int]]:
    index = {start: i for i, start in enumerate(buckets)}
    series = {name: [0] * len(buckets) for name, _ in SERIES}
    for (day, day_rule), counts in report.timeline.items():
        if day_rule != rule:
            continue
        position = index.get(_bucket_of(date.fromisoformat(day), unit))
        if position is None:
            continue
        for name, _ in SERIES:
            series[name][position] += counts.get(name, 0)
    return series


CARD_SERIES = ("shown", "silent", "suppressed")  # stacked bars: what became of the cards
FEEDBACK_SERIES = ("accepted", "overridden")  # lines with dots: what clinicians answered


def _time_chart(rule: str, series: dict[str, list[int]], buckets: Sequence[date]) -> str:
    """Per period a stacked bar of the rule's cards, and lines of its feedback."""
    width, height, left, bottom, top = 360, 150, 34, 22, 8
    plot_w, plot_h = width - left - 8, height - bottom - top
    n = max(len(buckets), 1)
    stacked = [sum(series[name][i] for name in CARD_SERIES) for i in range(len(buckets))]
    peak = max([1, *stacked, *(v for name in FEEDBACK_SERIES for v in series[name])])
    slot = plot_w / n
    bar_w = max(slot * 0.7, 1.0)
    colours = dict(SERIES)

    def x(i: int) -> float:
        return left + slot * (i + 0.5)

    def y(v: int) -> float:
        return top + plot_h - plot_h * v / peak

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(rule)} over time">',
        f"<title>{escape(rule)}: cards and feedback per period</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 9}" font-size="10" text-anchor="end">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">0</text>',
    ]
    if buckets:
        parts.append(
            f'<text x="{left}" y="{height - 6}" font-size="10">{buckets[0].isoformat()}</text>'
        )
        parts.append(
            f'<text x="{left + plot_w}" y="{height - 6}" font-size="10" text-anchor="end">'
            f"{buckets[-1].isoformat()}</text>"
        )
    for i, start in enumerate(buckets):
        base = 0
        for name in CARD_SERIES:
            value = series[name][i]
            if not value:
                continue
            parts.append(
                f'<rect class="series-{name}" x="{x(i) - bar_w / 2:.1f}" '
                f'y="{y(base + value):.1f}" width="{bar_w:.1f}" '
                f'height="{y(base) - y(base + value):.1f}" fill="{colours[name]}">'
                f"<title>{start.isoformat()} {name}: {value}</title></rect>"
            )
            base += value
    for name in FEEDBACK_SERIES:
        values = series[name]
        if not any(values):
            continue
        colour = colours[name]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline class="series-{name}" fill="none" stroke="{colour}" stroke-width="2" '
            f'points="{points}"><title>{name}: {sum(values)}</title></polyline>'
        )
        parts.extend(
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}" '
            f'stroke="#fff"><title>{buckets[i].isoformat()} {name}: {v}</title></circle>'
            for i, v in enumerate(values)
            if v
        )
    parts.append("</svg>")
    return "".join(parts)


def _bar_chart(rules: Sequence[RuleStats]) -> str:
    """Per rule, one horizontal bar: shown, silent and suppressed cards stacked."""
    row_h, left, width = 22, 70, 720
    plot_w = width - left - 60
    height = max(row_h * len(rules) + 10, 40)
    peak = max([1, *(r.issued for r in rules)])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Cards per rule: shown, silent, suppressed">',
        "<title>Cards per rule: shown, silent, suppressed</title>",
    ]
    for row, stats in enumerate(rules):
        y = 5 + row * row_h
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" font-size="12" text-anchor="end">'
            f"{escape(stats.rule)}</text>"
        )
        offset = float(left)
        for name, colour in SERIES[:3]:
            value = getattr(stats, name)
            if not value:
                continue
            w = plot_w * value / peak
            parts.append(
                f'<rect class="bar-{name}" data-rule="{escape(stats.rule)}" data-count="{value}" '
                f'x="{offset:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" '
                f'fill="{colour}"><title>{escape(stats.rule)} {name}: {value}</title></rect>'
            )
            offset += w
        parts.append(
            f'<text x="{offset + 5:.1f}" y="{y + 14}" font-size="11">{stats.issued}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _reasons(stats: RuleStats) -> str:
    names = catalogue().override_reasons
    items = []
    for entry in stats.reasons_json():
        code = entry.get("code")
        label = entry.get("display") or names.get(code or "", code) or NO_REASON
        items.append(f"{escape(str(label))} ({escape(str(code or '-'))}): {entry['count']}")
    return "<br>".join(items) if items else "-"


def _table(rules: Sequence[RuleStats]) -> str:
    titles = catalogue().rule_titles
    head = (
        "<tr><th>Rule</th><th>Issued</th><th>Shown</th><th>Silent</th><th>Suppressed</th>"
        "<th>Accepted</th><th>Overridden</th><th>Acceptance</th>"
        "<th>Override reasons</th></tr>"
    )
    rows = []
    for s in rules:
        rate = "-" if s.acceptance_rate is None else f"{s.acceptance_rate:.0%}"
        title = titles.get(s.rule)
        name = escape(s.rule) + (f' <span class="muted">{escape(title)}</span>' if title else "")
        rows.append(
            f'<tr data-rule="{escape(s.rule)}"><td>{name}</td>'
            f'<td data-col="issued">{s.issued}</td><td data-col="shown">{s.shown}</td>'
            f'<td data-col="silent">{s.silent}</td>'
            f'<td data-col="suppressed">{s.suppressed}</td>'
            f'<td data-col="accepted">{s.accepted}</td>'
            f'<td data-col="overridden">{s.overridden}</td>'
            f'<td data-col="acceptance">{rate}</td>'
            f'<td class="reasons" data-col="reasons">{_reasons(s)}</td></tr>'
        )
    if not rows:
        rows.append('<tr><td colspan="9">No cards issued and no feedback in this period.</td></tr>')
    return f'<table id="rules">{head}{"".join(rows)}</table>'


def _query(since: str, until: str, **extra: str) -> str:
    return urlencode({k: v for k, v in {"since": since, "until": until, **extra}.items() if v})


def render_dashboard(report: Report, *, since: str, until: str, today: date | None = None) -> str:
    """The page for ``report``; ``since``/``until`` as the user gave them (for the form)."""
    today = today or datetime.now(UTC).date()
    rules = report.rules
    days = _days(report, today)
    buckets, unit = _bucket_starts(days)
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{name}</span>' for name, colour in SERIES
    )
    presets = " ".join(
        f'<a href="?{_query((today - timedelta(days=n - 1)).isoformat(), today.isoformat())}">'
        f"{label}</a>"
        for n, label in PRESETS
    )
    charts = "".join(
        f'<figure data-rule="{escape(s.rule)}"><figcaption>{escape(s.rule)}</figcaption>'
        f"{_time_chart(s.rule, rule_series(report, s.rule, buckets, unit), buckets)}</figure>"
        for s in rules
    )
    period = report.period.as_json()
    shown_period = (
        f"{escape(period['since'] or 'the beginning')} to {escape(period['until'] or 'now')}"
        " (until exclusive)"
    )
    csv_link = f"/analytics?{_query(since, until, format='csv')}"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>osteopenia-cds: rule governance</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>Rule governance</h1>"
        f'<p class="muted" id="period">Period: {shown_period}. Cards by the day they were '
        "computed, feedback by its outcome time (UTC).</p>"
        '<form method="get" action="/analytics/dashboard">'
        f'<label>From <input type="date" name="since" value="{escape(since)}"></label>'
        f'<label>to <input type="date" name="until" value="{escape(until)}"></label>'
        '<button type="submit">Show</button>'
        f"<nav>Last {presets} <a href='?since=&amp;until='>all time</a></nav>"
        f'<a id="csv" href="{escape(csv_link)}" download="rule-analytics.csv">Download CSV</a>'
        "</form>"
        "<h2>Cards per rule</h2>"
        f'<p class="legend">{legend}</p>'
        "<p class='muted'>Issued = computed and logged: shown to clinicians, silent (rule in "
        "silent mode or outside its pilot group) or suppressed (snoozed after an override).</p>"
        f"{_bar_chart(rules)}"
        f"<h2>Over time (per {unit})</h2>"
        "<p class='muted'>Bars: the rule's cards (shown, silent, suppressed); lines: "
        "accepted and overridden.</p>"
        f"<div class='charts'>{charts}</div>"
        f"<h2>Per rule</h2>{_table(rules)}"
        f'<p class="muted">Feedback on cards this service never issued: '
        f"{report.unknown_card_feedback}.</p>"
        "</body></html>"
    )
