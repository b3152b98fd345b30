"""The steering pack: a one-page summary per pilot and a portfolio summary, as a PDF and as a
self-contained HTML file (no network needed to open it), made from the same numbers as the pages.

Charts are the pages' own Altair charts, drawn without a browser by vl-convert: SVG embedded as an
image in the HTML (an image cannot run anything, whatever text the data holds), PNG in the PDF.
Every text from the store is escaped in the HTML; the PDF draws text, never markup. Paper: A4 or
Letter; the HTML prints on either (its layout fits the narrower, shorter of the two).
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Optional
from urllib.parse import urlencode

import pandas as pd

from . import charts
from .adoption_report import PilotAdoption, barrier_frame, portfolio_adoption
from .alignment_report import PilotAlignment, assess_alignment, chart_data, numbers_for, verdict
from .catalogue import PATTERN_KEYS, Catalogue
from .thresholds import catalogue_for
from .config import DAYS_PER_MONTH
from .errors import NotFoundError
from .evidence import load_evidence
from .formatting import moment, money, percent
from .models import STAGE_LABELS
from .risk import HEALTH_LABELS, HEALTH_RANK, STATUS_LABELS, PilotRisk, assess, assess_evidence, heatmap_frame
from .store import Store, utc_now

PAPERS = {"a4": "A4", "letter": "Letter"}
FONTS = Path(__file__).parent / "fonts"
HEALTH_COLOURS = {"green": "#2a9d8f", "amber": "#e09f1f", "red": "#c0392b", "insufficient": "#9aa5b1"}


def live_link(base_url: str, page: str, pinned: Optional[datetime], **params: str) -> str:
    """The address of the live view: `page` ('' for home, 'Risk' …) with its parameters, pinned when the pack is."""
    pairs = [(k, v) for k, v in params.items() if v]
    if pinned is not None:
        pairs.append(("as_of", pinned.replace(microsecond=0).isoformat()))
    return f"{base_url.rstrip('/')}/{page}" + (f"?{urlencode(pairs)}" if pairs else "")


# -- what goes in ------------------------------------------------------------------------------------

@dataclass
class PilotPack:
    risk: PilotRisk
    alignment: PilotAlignment
    alignment_summary: str  # the verdict without each test's chance in words: the page keeps those, the pack has one page
    alignment_chart: Optional[dict]  # Vega-Lite spec
    adoption: PilotAdoption
    adoption_chart: Optional[dict]
    record: dict
    as_of: datetime
    pinned: bool
    link: str

    @property
    def months_in_stage(self) -> Optional[float]:
        since = self.record.get("stage_since")
        if since is None or pd.isna(since):
            return None
        return (self.as_of.date() - pd.Timestamp(since).date()).days / DAYS_PER_MONTH


@dataclass
class PortfolioPack:
    results: list[PilotRisk]  # worst first
    heatmap: dict  # Vega-Lite spec
    as_of: datetime
    pinned: bool
    link: str
    pattern_names: list[str]


def pilot_pack(store: Store, pilot_id: str, base_url: str, pinned: Optional[datetime] = None,
               catalogue: Optional[Catalogue] = None) -> PilotPack:
    """One pilot's pack: now, or as the store stood at `pinned` (records, uploads and withdrawals then)."""
    from .results import KEEPER

    catalogue = catalogue or catalogue_for(store, pinned)  # a pinned pack keeps the thresholds of its moment
    # "Now" is the moment the dashboard's pages are computed for (results.now_moment), so pack and page agree.
    evidence = load_evidence(store, pinned or KEEPER.moment(store), [pilot_id], pinned)
    if pilot_id not in set(evidence.pilots["pilot_id"]):
        raise NotFoundError(f"There is no pilot {pilot_id}" + (f" as of {pinned:%d %B %Y %H:%M} UTC." if pinned else "."))
    found = assess_evidence(evidence, catalogue)
    if not found:
        raise NotFoundError(f"Pilot {pilot_id} was not yet approved at that moment, so there is nothing to summarise.")
    risk = found[0]
    numbers = numbers_for(evidence, pilot_id, catalogue)
    alignment = assess_alignment(numbers, catalogue)
    chart = chart_data(numbers)
    adoption = portfolio_adoption(store, evidence.as_of, [pilot_id], catalogue, records_at=pinned)[0]
    latest = adoption.latest
    return PilotPack(
        risk=risk, alignment=alignment, alignment_summary=verdict(numbers, alignment, brief=True),
        alignment_chart=charts.alignment_chart(chart).to_dict() if chart is not None and not chart.technical.empty else None,
        adoption=adoption,
        adoption_chart=(charts.barrier_chart(barrier_frame(latest.overall)).properties(width=300, height=170).to_dict()
                        if latest is not None and latest.shown else None),
        record=evidence.pilot(pilot_id).record, as_of=evidence.as_of, pinned=pinned is not None,
        link=live_link(base_url, "Risk", pinned, pilot=pilot_id),
    )


def portfolio_pack(store: Store, base_url: str, pinned: Optional[datetime] = None, catalogue: Optional[Catalogue] = None) -> PortfolioPack:
    from .results import KEEPER

    if catalogue is None:  # the results every page shows, computed once per change (shared: sorted into a new list)
        catalogue = catalogue_for(store, pinned)
        results = list(KEEPER.risk(store, pinned=pinned))
    else:
        results = assess(store, pinned, catalogue=catalogue, records_at=pinned)
    results.sort(key=lambda r: (HEALTH_RANK[r.health], -max((p.score or 0) for p in r.patterns.values()), r.pilot_id))
    names = [catalogue.patterns[k].name for k in PATTERN_KEYS]
    frame = heatmap_frame(results)
    spec = (charts.risk_heatmap(frame, [r.pilot_id for r in results], names).properties(width=420, autosize="pad").to_dict()
            if results else {})  # on paper: 420 points of cells, the labels beside them
    return PortfolioPack(results, spec, results[0].as_of if results else (pinned or utc_now()), pinned is not None,
                         live_link(base_url, "Risk", pinned), names)


# -- words shared by both formats --------------------------------------------------------------------

# The pack's "Next actions" answer each pattern's top evidence in the table above it (both take the
# pattern's decisive, then heaviest, fired signal first), so the pack does not print the evidence twice.
ACTIONS_NOTE = "Each step answers the pattern's top evidence in the table above."


def top_evidence(risk: PilotRisk, pattern_key: str) -> str:
    pattern = risk.patterns[pattern_key]
    fired = sorted(pattern.fired, key=lambda s: (not s.decisive, -s.weight))  # decisive, then heaviest
    if fired:
        return fired[0].evidence
    return "No warning sign." if pattern.status != "insufficient" else "Too little evidence to judge."


def score_text(risk: PilotRisk, pattern_key: str) -> str:
    p = risk.patterns[pattern_key]
    return STATUS_LABELS[p.status] + ("" if p.score is None or p.status == "insufficient" else f" {p.score:.0f}")


def facts(pack: PilotPack) -> list[tuple[str, str]]:
    r, a = pack.record, pack.alignment
    months = pack.months_in_stage
    progress = a.kpi_progress
    budget, spend = r.get("budget"), r.get("spend_to_date")
    return [
        ("Stage", f"{STAGE_LABELS.get(r.get('stage'), r.get('stage') or '—')}" + (f", {months:.1f} months" if months is not None else "")),
        ("Business unit", r.get("business_unit") or "—"),
        ("KPI progress", (f"{r.get('kpi_name') or 'KPI'}: {percent(progress.progress)} of the way to target, "
                          f"{percent(min(progress.time_elapsed, 1))} of the time gone" + (" (behind plan)" if progress.behind else "")
                          if progress and progress.time_elapsed is not None else "Not known (needs the KPI's baseline, target, deadline and data)")),
        ("Budget", f"{money(spend)} spent of {money(budget)}" + (f" ({percent(spend / budget)})" if budget and spend is not None else "")),
    ]


def as_of_text(pack: PilotPack | PortfolioPack) -> str:
    return f"As of {moment(pack.as_of)}" + (" (pinned)" if pack.pinned else "")


# -- SVG / PNG ------------------------------------------------------------------------------------------

def _svg(spec: dict) -> str:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(spec)


def _png(spec: dict) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(spec, scale=2)


def _img(spec: Optional[dict], alt: str) -> str:
    if not spec:
        return ""
    data = base64.b64encode(_svg(spec).encode("utf-8")).decode("ascii")
    return f'<img class="chart" alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'


# -- HTML ------------------------------------------------------------------------------------------------

_CSS = """
@page { size: auto; margin: 12mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; font-size: 8.5pt; line-height: 1.3; color: #222; margin: 0 auto; max-width: 186mm; }
h1 { font-size: 16pt; margin: 0 0 2mm; } h2 { font-size: 11pt; margin: 4mm 0 1mm; }
.sub { color: #555; margin-bottom: 3mm; }
.health { padding: 2mm 3mm; border-radius: 2mm; color: white; font-weight: bold; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #ddd; padding: 0.6mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #f3f5f7; } .num { text-align: right; white-space: nowrap; }
.cols { display: flex; gap: 4mm; } .cols > div { flex: 1; min-width: 0; }
img.chart { max-width: 100%; max-height: 60mm; height: auto; display: block; }
p { margin: 1mm 0; } ul { margin: 1mm 0; padding-left: 5mm; }
.foot { color: #666; font-size: 8pt; margin-top: 3mm; border-top: 1px solid #ddd; padding-top: 1mm; word-break: break-all; }
.why { color: #555; font-size: 8pt; }
section { break-inside: avoid; }
"""


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{body}</body></html>\n")


def pilot_html(pack: PilotPack) -> str:
    e = html.escape
    risk, a, ad = pack.risk, pack.alignment, pack.adoption
    rows = "".join(f"<tr><td>{e(risk.patterns[k].name)}</td><td class=\"num\">{e(score_text(risk, k))}</td><td>{e(_fit(top_evidence(risk, k), 180))}</td></tr>"
                   for k in PATTERN_KEYS)
    fact_rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in facts(pack))
    actions = "".join(f"<li><b>{e(p.name)}</b>: {e(p.actions[0].text)}</li>" for p in risk.next_actions[:4]) \
        or "<li>No pattern calls for action.</li>"
    body = f"""
<h1>{e(risk.pilot_id)} · {e(risk.name)}</h1>
<div class="sub">{e(as_of_text(pack))} · steering summary</div>
<div class="health" style="background:{HEALTH_COLOURS[risk.health]}">Health: {e(HEALTH_LABELS[risk.health])}. {e(risk.health_reason)}</div>
<section><table>{fact_rows}</table></section>
<section><h2>The five failure patterns</h2><table><tr><th>Pattern</th><th class="num">Score</th><th>Top evidence</th></tr>{rows}</table></section>
<div class="cols">
<section><h2>Technical vs business</h2><p>{e(pack.alignment_summary)}</p>{_img(pack.alignment_chart, "Technical metric and KPI over time")}</section>
<section><h2>Adoption</h2><p>{e(ad.verdict)}</p>{_img(pack.adoption_chart, "Barrier points of the latest survey wave")}</section>
</div>
<section><h2>Next actions</h2><div class="why">{e(ACTIONS_NOTE)}</div><ul>{actions}</ul></section>
<div class="foot">Live view: <a href="{e(pack.link)}">{e(pack.link)}</a> · made by Pilot Health on {utc_now():%d %B %Y %H:%M} UTC</div>
"""
    return _page(f"{risk.pilot_id} · {risk.name} — steering summary", body)


def portfolio_html(pack: PortfolioPack) -> str:
    e = html.escape
    head = "".join(f"<th class=\"num\">{e(n)}</th>" for n in pack.pattern_names)
    rows = "".join(
        f"<tr><td>{e(r.pilot_id)}</td><td>{e(r.name)}</td><td>{e(HEALTH_LABELS[r.health])}</td>"
        + "".join(f"<td class=\"num\">{e(score_text(r, k))}</td>" for k in PATTERN_KEYS) + "</tr>"
        for r in pack.results)
    counts = pd.Series([r.health for r in pack.results]).value_counts()
    summary = ", ".join(f"{int(counts.get(h, 0))} {HEALTH_LABELS[h].lower()}" for h in ("red", "amber", "green", "insufficient"))
    body = f"""
<h1>Portfolio · steering summary</h1>
<div class="sub">{e(as_of_text(pack))} · {len(pack.results)} pilots: {e(summary)}</div>
<section><table><tr><th>Pilot</th><th>Name</th><th>Health</th>{head}</tr>{rows}</table></section>
<section><h2>Pilots × patterns</h2>{_img(pack.heatmap, "Heatmap of pattern scores per pilot")}</section>
<div class="foot">Live view: <a href="{e(pack.link)}">{e(pack.link)}</a> · made by Pilot Health on {utc_now():%d %B %Y %H:%M} UTC</div>
"""
    return _page("Portfolio — steering summary", body)


# -- PDF -------------------------------------------------------------------------------------------------

def _pdf(paper: str):
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format=PAPERS.get(paper.lower(), "A4"))
    pdf.set_auto_page_break(False)
    pdf.set_margins(12, 12, 12)
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    return pdf


def _fit(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fit_width(pdf, text: str, width: float) -> str:
    """The text, shortened with an ellipsis until it fits `width` mm in the current font."""
    text = " ".join(str(text).split())
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _heading(pdf, text: str, size: float = 10.5) -> None:
    pdf.set_font("DejaVu", "B", size)
    pdf.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8.5)


def _image(pdf, spec: Optional[dict], x: float, y: float, w: float, max_h: float) -> float:
    """Draw a chart at (x, y), `w` wide and at most `max_h` high; returns the height used."""
    if not spec:
        return 0.0
    import io

    from PIL import Image

    png = _png(spec)
    width, height = Image.open(io.BytesIO(png)).size
    h = min(max_h, w * height / width)
    pdf.image(io.BytesIO(png), x=x, y=y, w=h * width / height, h=h)
    return h


def pilot_pdf(pack: PilotPack, paper: str = "a4") -> bytes:
    risk, a, ad = pack.risk, pack.alignment, pack.adoption
    pdf = _pdf(paper)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    bottom = pdf.h - 14
    pdf.set_font("DejaVu", "B", 15)
    pdf.multi_cell(width, 7, _fit(f"{risk.pilot_id} · {risk.name}", 80), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8.5)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(0, 5, f"{as_of_text(pack)} · steering summary", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(255, 255, 255)
    colour = HEALTH_COLOURS[risk.health].lstrip("#")
    pdf.set_fill_color(*(int(colour[i:i + 2], 16) for i in (0, 2, 4)))
    pdf.set_font("DejaVu", "B", 9)
    pdf.multi_cell(width, 5.5, _fit(f"Health: {HEALTH_LABELS[risk.health]}. {risk.health_reason}", 180), fill=True,
                   new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(34, 34, 34)
    pdf.ln(1.5)
    pdf.set_font("DejaVu", "", 8.5)
    for label, value in facts(pack):
        pdf.set_font("DejaVu", "B", 8.5)
        pdf.cell(32, 4.6, label)
        pdf.set_font("DejaVu", "", 8.5)
        pdf.cell(0, 4.6, _fit_width(pdf, value, width - 32), new_x="LMARGIN", new_y="NEXT")

    _heading(pdf, "The five failure patterns")
    for key in PATTERN_KEYS:
        pdf.set_font("DejaVu", "B", 8.5)
        pdf.cell(52, 4.6, risk.patterns[key].name)
        pdf.cell(24, 4.6, score_text(risk, key))
        pdf.set_font("DejaVu", "", 8)
        pdf.cell(0, 4.6, _fit_width(pdf, top_evidence(risk, key), width - 76), new_x="LMARGIN", new_y="NEXT")

    half = (width - 6) / 2
    top = pdf.get_y() + 1
    pdf.set_xy(pdf.l_margin, top)
    _heading(pdf, "Technical vs business")
    pdf.set_x(pdf.l_margin)
    pdf.multi_cell(half, 4, _fit(pack.alignment_summary, 330), new_x="LMARGIN", new_y="NEXT")
    left_end = pdf.get_y() + 1
    left_end += _image(pdf, pack.alignment_chart, pdf.l_margin, left_end, half, 78)
    pdf.set_xy(pdf.l_margin + half + 6, top)
    pdf.set_font("DejaVu", "B", 10.5)
    pdf.cell(half, 6, "Adoption", new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8.5)
    pdf.multi_cell(half, 4, _fit(ad.verdict, 420), new_x="LEFT", new_y="NEXT")
    right_end = pdf.get_y() + 1
    right_end += _image(pdf, pack.adoption_chart, pdf.l_margin + half + 6, right_end, half, 60)

    pdf.set_xy(pdf.l_margin, max(left_end, right_end) + 2)
    _heading(pdf, "Next actions")
    if risk.next_actions:
        pdf.set_font("DejaVu", "", 7)
        pdf.set_text_color(100, 100, 100)
        pdf.cell(0, 3.6, ACTIONS_NOTE, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(34, 34, 34)
        pdf.set_font("DejaVu", "", 8.5)
    for pattern in risk.next_actions[:4]:
        if pdf.get_y() > bottom - 12:
            break
        pdf.multi_cell(width, 4, _fit(f"• {pattern.name}: {pattern.actions[0].text}", 200), new_x="LMARGIN", new_y="NEXT")
    if not risk.next_actions:
        pdf.cell(0, 4.6, "No pattern calls for action.", new_x="LMARGIN", new_y="NEXT")

    pdf.set_xy(pdf.l_margin, bottom)
    pdf.set_font("DejaVu", "", 7)
    pdf.set_text_color(100, 100, 100)
    pdf.multi_cell(width, 3.4, _fit(f"Live view: {pack.link}", 220), link=pack.link, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def portfolio_pdf(pack: PortfolioPack, paper: str = "a4") -> bytes:
    pdf = _pdf(paper)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font("DejaVu", "B", 15)
    pdf.cell(0, 8, "Portfolio · steering summary", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 8.5)
    pdf.cell(0, 5, f"{as_of_text(pack)} · {len(pack.results)} pilots", new_x="LMARGIN", new_y="NEXT")
    short = [charts.PATTERN_SHORT.get(n, n) for n in pack.pattern_names]
    columns = [18, 52, 20] + [(width - 90) / 5] * 5
    pdf.set_font("DejaVu", "B", 7.5)
    for text, w in zip(["Pilot", "Name", "Health", *short], columns):
        pdf.cell(w, 4.6, _fit_width(pdf, text, w - 1), border="B")
    pdf.ln()
    pdf.set_font("DejaVu", "", 7.5)
    per_row = 4.2
    room = pdf.h - 14 - pdf.get_y()
    shown = pack.results[: max(0, int((room * 0.45) // per_row))]
    for r in shown:
        cells = [r.pilot_id, r.name, HEALTH_LABELS[r.health].split()[0], *(score_text(r, k).replace("Insufficient evidence", "?") for k in PATTERN_KEYS)]
        for text, w in zip(cells, columns):
            pdf.cell(w, per_row, _fit_width(pdf, text, w - 1))
        pdf.ln()
    if len(shown) < len(pack.results):
        pdf.cell(0, per_row, f"… and {len(pack.results) - len(shown)} more pilots (the HTML pack and the live view list them all).",
                 new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _image(pdf, pack.heatmap, pdf.l_margin, pdf.get_y(), width, pdf.h - 18 - pdf.get_y())
    pdf.set_xy(pdf.l_margin, pdf.h - 14)
    pdf.set_font("DejaVu", "", 7)
    pdf.set_text_color(100, 100, 100)
    pdf.multi_cell(width, 3.4, _fit(f"Live view: {pack.link}", 220), link=pack.link, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def file_name(what: str, fmt: str, as_of: datetime) -> str:
    return f"pilot_health_{what}_{as_of:%Y%m%d_%H%M}.{fmt}"


def export(store: Store, *, pilot_id: Optional[str], fmt: str, base_url: str, pinned: Optional[datetime] = None,
           paper: str = "a4") -> tuple[bytes, str]:
    """The document and its file name: one pilot's summary (pilot_id) or the portfolio's (None)."""
    if pilot_id:
        pack = pilot_pack(store, pilot_id, base_url, pinned)
        data = pilot_pdf(pack, paper) if fmt == "pdf" else pilot_html(pack).encode("utf-8")
        return data, file_name(pilot_id, fmt, pack.as_of)
    pack = portfolio_pack(store, base_url, pinned)
    data = portfolio_pdf(pack, paper) if fmt == "pdf" else portfolio_html(pack).encode("utf-8")
    return data, file_name("portfolio", fmt, pack.as_of)

