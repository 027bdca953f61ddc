"""summary.html: one self-contained page (inline CSS and SVG, no script, no network)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from html import escape

from cds_service.guideline.references import catalogue

from .evaluate import AGE_BANDS, OLDEST_BAND, UNKNOWN
from .job import JobReport

INDICATORS = ("critical", "warning", "info")
COLOURS = {"critical": "#b3261e", "warning": "#c77700", "info": "#1f6fb2"}
SEX_COLOURS = {"female": "#7b4ea3", "male": "#2e8b57", "other": "#8a8a8a", UNKNOWN: "#bbbbbb"}
BANDS = (*(label for _, _, label in AGE_BANDS), OLDEST_BAND, UNKNOWN)

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1100px;color:#1d1d1f;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#555}.tiles{display:flex;gap:12px;margin:16px 0;flex-wrap:wrap}
.tile{border:1px solid #ddd;border-radius:8px;padding:10px 16px;min-width:130px}
.tile b{display:block;font-size:22px}.warn b{color:#b3261e}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th:first-child,td:first-child,td.text,th.text{text-align:left}th{background:#f5f5f7}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
svg text{font:12px system-ui,sans-serif;fill:#1d1d1f}
"""


def _int(value: int) -> str:
    return f"{value:,}"


def _legend(colours: dict[str, str], keys: tuple[str, ...]) -> str:
    items = "".join(
        f'<span><i style="background:{colours[k]}"></i>{escape(k)}</span>' for k in keys
    )
    return f'<div class="legend">{items}</div>'


def _stacked_bars(
    rows: list[tuple[str, dict[str, int]]], keys: tuple[str, ...], colours: dict[str, str]
) -> str:
    """Horizontal stacked bars, one per row label, segments per key."""
    width, label_w, bar_h, gap = 860, 320, 20, 8
    top = max((sum(parts.values()) for _, parts in rows), default=0) or 1
    scale = (width - label_w - 70) / top
    height = len(rows) * (bar_h + gap) + 10
    out = [f'<svg width="{width}" height="{height}" role="img">']
    for i, (label, parts) in enumerate(rows):
        y = 5 + i * (bar_h + gap)
        shown = label if len(label) <= 48 else label[:47] + "…"
        out.append(f'<text x="0" y="{y + 14}">{escape(shown)}<title>{escape(label)}</title></text>')
        x = float(label_w)
        for key in keys:
            value = parts.get(key, 0)
            if not value:
                continue
            w = value * scale
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" '
                f'fill="{colours[key]}"><title>{escape(label)} · {escape(key)}: '
                f"{_int(value)}</title></rect>"
            )
            x += w
        out.append(f'<text x="{x + 6:.1f}" y="{y + 14}">{_int(sum(parts.values()))}</text>')
    out.append("</svg>")
    return "".join(out)


def render_summary(report: JobReport, *, as_of: date, source: str) -> str:
    titles = catalogue().rule_titles
    by_rule: dict[str, dict[str, int]] = defaultdict(dict)
    for row in report.by_rule:
        by_rule[row["rule"]][row["indicator"]] = row["count"]
    rules = sorted(by_rule, key=lambda r: (len(r), r))

    by_band: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    cells: dict[tuple[str, str, str], int] = {}
    for row in report.by_band:
        by_band[row["age_band"]][row["sex"]] += row["count"]
        cells[(row["rule"], row["age_band"], row["sex"])] = row["count"]
    denominators: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in report.patients_by_band:
        denominators[row["age_band"]][row["sex"]] += row["count"]
    sexes = tuple(
        s
        for s in ("female", "male", "other", UNKNOWN)
        if any(s in d for d in (*by_band.values(), *denominators.values()))
    ) or ("female", "male")
    bands = tuple(b for b in BANDS if b in by_band or b in denominators)

    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>Osteopenia care gaps</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Osteopenia and bone-health care gaps</h1>",
        f'<div class="meta">Evaluated on {as_of.isoformat()} from {escape(source)}, with the '
        "rules of the patient-view service.</div>",
        '<div class="tiles">',
        f'<div class="tile"><b>{_int(report.patients)}</b>patients evaluated</div>',
        f'<div class="tile"><b>{_int(report.cards)}</b>cards (care gaps)</div>',
        f'<div class="tile"><b>{_int(report.lines)}</b>resources in the export</div>',
        f'<div class="tile{" warn" if report.rejected else ""}"><b>{_int(report.rejected)}</b>'
        "rejected</div></div>",
        "<h2>Cards per rule and indicator</h2>",
        _legend(COLOURS, INDICATORS),
        _stacked_bars(
            [(f"{r} {titles.get(r, '')}", by_rule[r]) for r in rules], INDICATORS, COLOURS
        ),
        "<table><tr><th>Rule</th><th class=text>Title</th>",
        *(f"<th>{i}</th>" for i in INDICATORS),
        "<th>Total</th></tr>",
    ]
    for rule in rules:
        counts = by_rule[rule]
        parts.append(
            f"<tr><td>{escape(rule)}</td><td class=text>{escape(titles.get(rule, ''))}</td>"
            + "".join(f"<td>{_int(counts.get(i, 0))}</td>" for i in INDICATORS)
            + f"<td>{_int(sum(counts.values()))}</td></tr>"
        )
    parts += [
        "</table>",
        "<h2>Cards by age band and sex</h2>",
        _legend(SEX_COLOURS, sexes),
        _stacked_bars([(b, dict(by_band.get(b, {}))) for b in bands], sexes, SEX_COLOURS),
        "<h2>Cards per rule, by age band and sex</h2>",
        "<table><tr><th rowspan=2>Rule</th>",
        *(f"<th colspan={len(sexes)}>{escape(b)}</th>" for b in bands),
        "</tr><tr>",
        *(f"<th>{escape(s)}</th>" for _ in bands for s in sexes),
        "</tr>",
        "<tr><td class=text><i>patients evaluated</i></td>",
        *(f"<td><i>{_int(denominators[b].get(s, 0))}</i></td>" for b in bands for s in sexes),
        "</tr>",
    ]
    for rule in rules:
        parts.append(f"<tr><td>{escape(rule)}</td>")
        parts += [f"<td>{_int(cells.get((rule, b, s), 0))}</td>" for b in bands for s in sexes]
        parts.append("</tr>")
    parts.append("</table>")
    if report.rejected or report.not_read:
        parts.append("<h2>Input not evaluated</h2><table><tr><th>What</th><th>Count</th></tr>")
        for kind, count in sorted(report.rejects.items()):
            parts.append(f"<tr><td>rejected: {escape(kind)}</td><td>{_int(count)}</td></tr>")
        for rtype, count in sorted(report.not_read.items()):
            parts.append(
                f"<tr><td>not read by the rules: {escape(rtype)}</td><td>{_int(count)}</td></tr>"
            )
        parts.append("</table><p class=meta>Rejects: counts and first examples in rejects/.</p>")
    parts.append("</body></html>\n")
    return "".join(parts)
