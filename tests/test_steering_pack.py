"""The steering pack on the demo store: a one-page PDF per pilot (A4 and Letter) with the pilot's name
and five pattern scores, a portfolio PDF with every pilot's stage, time in stage, budget and spend,
KPI progress, health with its reason and the committee's top five actions (all taken from the
domain functions the pages use), no text overlapping or running off the page and chart text of
8 pt or more (measured in the PDF itself, tests/pack_layout.py), self-contained HTML that escapes
every stored text, pinned packs that do not move, and the `export` command."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pandas as pd
import pypdf
import pytest
from conftest import without_demo_meetings
from pack_layout import chart_problems, chart_texts, layout_problems, pdf_boxes

from pilot_health.analytics import risk
from pilot_health.analytics.portfolio import load_portfolio
from pilot_health.formatting import money, percent
from pilot_health.models import STAGE_LABELS
from pilot_health.register.pilots import get_pilot, update_pilot
from pilot_health.reports import steering_pack as sp
from pilot_health.reports.alignment_report import portfolio_alignment
from pilot_health.rules.catalogue import PATTERN_KEYS
from pilot_health.store.database import utc_now


@pytest.fixture
def demo_store(demo_store):
    """The demo without its two past meetings: these tests record their own decisions on a clean slate."""
    return without_demo_meetings(demo_store)


BASE = "http://dashboard.example:8501"
MM_PER_POINT = 25.4 / 72


def pdf_pages(data: bytes) -> list[pypdf.PageObject]:
    return list(pypdf.PdfReader(io.BytesIO(data)).pages)


def page_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in pdf_pages(data))


@pytest.mark.parametrize("paper, size_mm", [("a4", (210, 297)), ("letter", (215.9, 279.4))])
def test_a_pilot_pack_is_one_page_with_its_name_and_five_scores(demo_store, paper, size_mm):
    data, name = sp.export(demo_store, pilot_id="SC-01", fmt="pdf", base_url=BASE, paper=paper)
    pages = pdf_pages(data)
    assert len(pages) == 1 and name.startswith("pilot_health_SC-01_") and name.endswith(".pdf")
    box = pages[0].mediabox
    assert (round(float(box.width) * MM_PER_POINT, 1), round(float(box.height) * MM_PER_POINT, 1)) == pytest.approx(
        size_mm, abs=0.5
    )
    text = page_text(data)
    result = risk.assess(demo_store, None, ["SC-01"])[0]
    assert "SC-01 · Fresh produce demand forecasting" in text
    for key in PATTERN_KEYS:
        assert f"{result.patterns[key].name} {sp.score_text(result, key)}" in text, key
    assert f"Health: {risk.HEALTH_LABELS[result.health]}." in text
    assert "Technical vs business" in text and "Adoption" in text and "Next actions" in text
    assert f"Live view: {BASE}/Risk?pilot=SC-01" in text


@pytest.mark.slow
def test_the_portfolio_pack_carries_every_pilots_numbers_health_reason_and_the_top_five_actions(demo_store):
    """Each number as the home, risk and alignment pages compute it: stage and months in stage and
    budget and spend (load_portfolio), health and its reason (risk.assess), KPI progress
    (portfolio_alignment); the top five actions are each worst pilot's most serious step."""
    data, _ = sp.export(demo_store, pilot_id=None, fmt="pdf", base_url=BASE)
    text = page_text(data)
    results = risk.assess(demo_store)
    as_of = results[0].as_of
    frame = load_portfolio(demo_store, as_of.date(), 45).set_index("pilot_id")
    progress = {a.pilot_id: a.kpi_progress for a in portfolio_alignment(demo_store)}
    html = sp.export(demo_store, pilot_id=None, fmt="html", base_url=BASE)[0].decode()
    for r in results:
        line = frame.loc[r.pilot_id]
        # One row per pilot: code, name, stage, months, spend of budget, share spent, KPI, time gone, health.
        spend = f"{money(line['spend_to_date'])} of {money(line['budget'])}"
        kpi = progress[r.pilot_id]
        row = (
            f"{STAGE_LABELS[line['stage']]} {line['months_in_stage']:.1f} {spend} {percent(line['spend_share'])} "
            f"{sp.kpi_text(kpi)} {sp.time_text(kpi)} {risk.HEALTH_LABELS[r.health]}"
        )
        assert f"{r.pilot_id} {r.name.split()[0]}" in text and row in text, (
            r.pilot_id,
            row,
        )  # a long name is cut with "…" at a word
        assert spend in html and sp.kpi_text(kpi) in html, (r.pilot_id, spend)
        if kpi is not None:  # the alignment page's KPI progress, whole per cent
            assert sp.kpi_text(kpi).startswith(f"{kpi.progress * 100:.0f}%") and (
                " behind" in sp.kpi_text(kpi)
            ) == bool(kpi.behind)
        assert " ".join(r.health_reason.split()[:6]) in text and r.health_reason in html, (
            r.pilot_id
        )  # never a health without its reason
        assert f'<td rowspan="2" class="code">{r.pilot_id}</td>' in html
    # The committee's top five: the first step of each worst-first pilot that calls for action.
    order = risk.order_pilots({r.pilot_id: r for r in results}, [r.pilot_id for r in results], "health")
    by_pilot = {r.pilot_id: r for r in results}
    expected = [(p, by_pilot[p].actions[0]) for p in order if by_pilot[p].actions][:5]
    if len(expected) < 5:  # fewer pilots call for action: their next steps follow
        expected += [(p, by_pilot[p].actions[1]) for p in order if len(by_pilot[p].actions) > 1][: 5 - len(expected)]
    actions = sp.portfolio_pack(demo_store, BASE).actions
    assert [(a.risk.pilot_id, a.action) for a in actions] == expected and len(actions) == min(
        5, sum(len(r.actions) for r in results)
    )
    assert "The committee's top 5 actions" in text
    for i, (pilot_id, action) in enumerate(expected, 1):
        assert f"{i}. {pilot_id} · {by_pilot[pilot_id].name}" in text
        assert " ".join(action.text.split()[:5]) in text and f"Because: {' '.join(action.evidence.split()[:5])}" in text
        assert f"{action.text}" in html
    assert "heatmap" not in html.lower()  # the table's pattern cells replace the risk page's heatmap


@pytest.mark.slow
def test_a_pilot_with_every_pattern_unscored_still_shows_why_its_health_is_what_it_is(demo_store):
    """No health without its reason: even a pilot whose five patterns all read “?” names why."""
    pack = sp.portfolio_pack(demo_store, BASE)
    unscored = [row for row in pack.rows if all(p.score is None for p in row.risk.patterns.values())]
    text = page_text(sp.portfolio_pdf(pack))
    for row in pack.rows:
        assert row.risk.health_reason.strip()
    for row in unscored:
        assert " ".join(row.risk.health_reason.split()[:6]) in text


CHECKED = [
    "SC-01",
    "RO-02",
    "FN-01",
    "MK-04",
    "CS-04",
    "SC-03",
    "SC-02",
    "RO-03",
]  # long reasons and evidence, labels near the edges, no chart


@pytest.mark.slow
@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_no_text_overlaps_or_runs_off_the_page_and_chart_text_is_8_points_or_more(demo_store, paper):
    """Measured in the PDFs themselves: every piece of text inside the 12 mm margins, no two texts
    or a text and a chart overlapping; text 7 pt or more (8 pt or more outside the footer and the
    table's small print); chart text 8 pt or more on paper and no two chart labels overlapping."""
    for pilot_id in [*CHECKED, None]:
        if pilot_id:
            sheet = sp.pilot_sheet(sp.pilot_pack(demo_store, pilot_id, BASE), paper)
        else:
            sheet = sp.portfolio_sheet(sp.portfolio_pack(demo_store, BASE), paper)
        data = sheet.output()
        assert layout_problems(data) == [], (pilot_id, paper)
        texts, images, _ = pdf_boxes(data)
        assert min(t.size for t in texts) >= 7, (pilot_id, min(texts, key=lambda t: t.size))
        assert len(images) == len(sheet.charts)
        for chart in sheet.charts:
            graph = sp.scenegraph(chart.spec)
            boxes = chart_texts(graph)
            printed = chart.w * 72 / 25.4 / graph["width"]  # points on paper per chart pixel
            assert boxes and min(b.size for b in boxes) * printed >= 8, (pilot_id, min(boxes, key=lambda b: b.size))
            assert chart_problems(graph) == [], (pilot_id, paper)
        if pilot_id == "SC-01":
            assert len(sheet.charts) == 3  # technical metric, KPI, barrier points
    assert len(pdf_pages(data)) >= 1


def test_the_layout_check_finds_overlapping_text_text_past_the_margin_and_overlapping_chart_labels():
    """The check above can fail: two cells drawn on top of each other, one past the right margin,
    and the alert labels of two close crossings on the full (not thinned) chart."""
    from fpdf import FPDF

    pdf = FPDF(unit="mm", format="A4")
    pdf.add_font("DejaVu", "", str(sp.FONTS / "DejaVuSans.ttf"))
    pdf.add_page()
    pdf.set_font("DejaVu", "", 9)
    pdf.c_margin = 0
    pdf.set_xy(20, 50)
    pdf.cell(40, 4, "First text")
    pdf.set_xy(30, 51)
    pdf.cell(40, 4, "Second text")
    pdf.set_xy(190, 80)
    pdf.cell(40, 4, "Runs off")
    problems = layout_problems(bytes(pdf.output()))
    assert any("“First text” overlaps “Second text”" in p for p in problems), problems
    assert any("“Runs off” runs past the margins" in p for p in problems), problems
    events = pd.DataFrame(
        {
            "week": pd.to_datetime(["2026-05-11", "2026-06-01"]),
            "value": [0.68, 0.67],
            "what": ["drift warning", "drift critical"],
            "level": ["warning", "critical"],
        }
    )
    spec = {
        "data": {
            "values": [
                {"week": "2026-05-11", "value": 0.68, "what": "drift warning"},
                {"week": "2026-06-01", "value": 0.67, "what": "drift critical"},
            ]
        },
        "mark": {"type": "text", "dy": -12, "fontSize": 10},
        "width": 255,
        "height": 150,
        "encoding": {
            "x": {"field": "week", "type": "temporal", "scale": {"domain": ["2025-08-01", "2026-12-01"]}},
            "y": {"field": "value", "type": "quantitative", "scale": {"domain": [0.5, 1]}},
            "text": {"field": "what"},
        },
    }
    assert chart_problems(sp.scenegraph(sp.print_spec(spec, 255, 150))) == ["“drift warning” overlaps “drift critical”"]
    # On paper each kind of alert keeps one crossing: the first of the highest level reached.
    assert sp.paper_events(events)["what"].tolist() == ["drift critical"]


def test_links_point_to_the_public_address_when_one_is_set_and_say_when_they_only_work_here():
    assert sp.links_base("http://127.0.0.1:8501", "http://localhost:8501", False) == ("http://127.0.0.1:8501", True)
    assert sp.links_base("", "http://localhost:8501", False) == ("http://localhost:8501", True)
    assert sp.links_base("http://dashboard.intra:8501", "http://localhost:8501", False) == (
        "http://dashboard.intra:8501",
        False,
    )
    assert sp.links_base("http://127.0.0.1:8501", "https://pilots.example.com", True) == (
        "https://pilots.example.com",
        False,
    )


def test_the_html_pack_opens_offline_and_escapes_stored_text(demo_store):
    pilot = get_pilot(demo_store, "SC-01")
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)> & "quotes"'
    update_pilot(demo_store, pilot.model_copy(update={"name": hostile}))
    page = sp.export(demo_store, pilot_id="SC-01", fmt="html", base_url=BASE)[0].decode("utf-8")
    assert "<script" not in page and "onerror=alert" not in page.replace("onerror=alert(2)&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # Nothing is fetched: no scripts, style sheets or images from elsewhere; charts are embedded.
    assert not re.search(r"<(script|link|iframe)\b", page)
    sources = re.findall(r'src="([^"]+)"', page)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    assert re.findall(r'href="([^"]+)"', page) == [f"{BASE}/Risk?pilot=SC-01"]
    assert "@page" in page


@pytest.mark.slow
def test_a_pinned_pack_does_not_move_when_records_change_later(demo_store):
    pinned = utc_now().replace(microsecond=0) + timedelta(seconds=1)
    import time

    time.sleep(1.2)
    before = page_text(sp.export(demo_store, pilot_id="SC-01", fmt="pdf", base_url=BASE, pinned=pinned)[0])
    pilot = get_pilot(demo_store, "SC-01")
    update_pilot(demo_store, pilot.model_copy(update={"name": "Renamed afterwards", "change_champion": "none"}))
    after = page_text(sp.export(demo_store, pilot_id="SC-01", fmt="pdf", base_url=BASE, pinned=pinned)[0])
    strip = re.compile(r"made by Pilot Health on .*? UTC")
    assert strip.sub("", after) == strip.sub("", before)
    assert (
        "Fresh produce demand forecasting" in after
        and "(pinned)" in after
        and f"as_of={pinned.isoformat()}".replace(":", "%3A") in after
    )
    assert "Renamed afterwards" in page_text(sp.export(demo_store, pilot_id="SC-01", fmt="pdf", base_url=BASE)[0])


@pytest.mark.slow
def test_the_export_command_writes_the_same_documents(demo_store, tmp_path, run_command):
    out = tmp_path / "pack.pdf"
    done = run_command(
        "export",
        "--db",
        str(demo_store.path),
        "--pilot",
        "sc-01",
        "--format",
        "pdf",
        "--out",
        str(out),
        "--json",
        env={"PILOT_HEALTH_PUBLIC_URL": BASE, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["file"] == str(out) and payload["bytes"] == out.stat().st_size
    assert len(pdf_pages(out.read_bytes())) == 1 and f"{BASE}/Risk?pilot=SC-01" in page_text(out.read_bytes())
    done = run_command(
        "export", "--db", str(demo_store.path), "--portfolio", "--format", "html", "--out", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    [written] = list(tmp_path.glob("pilot_health_portfolio_*.html"))
    assert "Portfolio · steering summary" in written.read_text(encoding="utf-8")
    done = run_command("export", "--db", str(demo_store.path), "--pilot", "NOPE", "--format", "pdf", "--out", str(out))
    assert done.returncode == 1 and "There is no pilot NOPE" in done.stderr
    done = run_command("export", "--db", str(demo_store.path), "--format", "pdf", "--out", str(out))
    assert done.returncode == 2 and "one of the arguments --pilot --portfolio is required" in done.stderr


LOCAL_NOTE = "Links in the pack point to this computer"


@pytest.mark.parametrize("page, query", [(None, {}), ("pages/3_Risk.py", {"pilot": "SC-01"})], ids=["home", "risk"])
def test_the_download_buttons_say_when_the_packs_links_only_work_on_this_computer(
    demo_store, app_env, monkeypatch, page, query
):
    """Without a public address the pack links to the address the dashboard was opened with — on the
    dashboard's own computer, that is this computer: a caption beside the buttons says so in plain
    words (no setting names). With the public address set, the links use it and the caption is gone."""
    from test_pages import open_page, texts

    app_env(demo_store)
    monkeypatch.delenv("PILOT_HEALTH_PUBLIC_URL", raising=False)
    at = open_page(page, **query)
    captions = [t for t in texts(at.caption) if t.startswith(LOCAL_NOTE)]
    assert captions and "PILOT_HEALTH" not in captions[0] and "administrator" in captions[0], texts(at.caption)
    monkeypatch.setenv("PILOT_HEALTH_PUBLIC_URL", "https://pilots.example.com")
    at = open_page(page, **query)
    assert not [t for t in texts(at.caption) if t.startswith(LOCAL_NOTE)]
    assert not at.exception


# -- since last meeting ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_both_packs_carry_what_changed_since_the_last_meeting_and_still_fit(demo_store, paper):
    """With a previous moment, each pack has a "Since last meeting" section with the Since last
    meeting page's summary and worst changes; the pilot's page stays one page and nothing overlaps."""
    from pilot_health.reports.changes import changes_since

    since = utc_now()
    for code in ("SC-01", "FN-01"):
        pilot = get_pilot(demo_store, code)
        update_pilot(demo_store, pilot.model_copy(update={"stage": "paused", "change_champion": "none"}))
    expected = changes_since(demo_store, since)
    assert expected.summary == "1 pattern worse, 2 new warning signs on Organisational Resistance, 2 stage moves."

    portfolio = sp.portfolio_sheet(sp.portfolio_pack(demo_store, BASE, since=since), paper).output()
    assert layout_problems(portfolio) == []
    text = page_text(portfolio)
    assert f"Since last meeting ({sp.moment(since)})" in text and expected.summary in text
    assert (
        "• SC-01 · Fresh produce demand forecasting: Organisational Resistance: Medium → High (score 46 → 62)." in text
    )
    assert (
        "• SC-01 · Fresh produce demand forecasting: New warning sign on Organisational Resistance: Is no change champion named?"
        in text
    )
    assert "• FN-01 · " in text and "Stage moved from pilot to paused." in text

    pilot = sp.pilot_sheet(sp.pilot_pack(demo_store, "SC-01", BASE, since=since), paper).output()
    assert layout_problems(pilot) == [] and len(pdf_pages(pilot)) == 1
    text = page_text(pilot)
    assert (
        "1 pattern worse, 1 new warning sign on Organisational Resistance, 1 stage move." in text
        and "FN-01" not in text
    )
    assert "• Stage moved from pilot to paused." in text and "Next actions" in text

    html = sp.export(demo_store, pilot_id=None, fmt="html", base_url=BASE, since=since)[0].decode()
    assert f"<h2>Since last meeting ({sp.moment(since)})</h2><p><b>{expected.summary}</b></p>" in html
    assert "Since last meeting" not in sp.export(demo_store, pilot_id=None, fmt="html", base_url=BASE)[0].decode()


# -- committee decisions ---------------------------------------------------------------------------------


def _uris(data: bytes) -> list[str]:
    return [
        a.get_object()["/A"]["/URI"]
        for page in pdf_pages(data)
        for a in page.get("/Annots") or []
        if "/A" in a.get_object() and "/URI" in a.get_object()["/A"]
    ]


@pytest.mark.slow
@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_the_pilot_pack_shows_the_decision_in_force_with_its_conditions_owner_due_date_and_the_meetings_view(
    demo_store, paper
):
    """Two meetings decided about SC-02: the later decision replaces the earlier; the pack prints the
    one in force with its status, due date and owner, its condition tied to a warning sign met or
    not as the risk engine reads it now, and the meeting with a link to its pinned view. The page
    stays one page and nothing overlaps."""
    from pilot_health.reports import meetings

    first = meetings.record_meeting(
        demo_store, "2026-10-01", "October steering committee", pd.Timestamp("2026-10-01 08:00").to_pydatetime()
    )
    second = meetings.record_meeting(
        demo_store, "2026-11-05", "November steering committee", pd.Timestamp("2026-11-05 08:00").to_pydatetime()
    )
    meetings.record_decision(
        demo_store,
        "SC-02",
        first.meeting_id,
        "fix and review",
        "Ann Owner",
        "2026-11-05",
        conditions="Earlier conditions, replaced since",
    )
    today = utc_now().date()
    meetings.record_decision(
        demo_store,
        "SC-02",
        second.meeting_id,
        "scale",
        "Ben Owner",
        today + timedelta(days=3),
        conditions="Keep the KPI on plan while the second region goes live",
        signal_key="kpi_behind_plan",
    )
    result = risk.assess(demo_store, None, ["SC-02"])[0]
    sign = next(s for p in result.patterns.values() for s in p.signals if s.key == "kpi_behind_plan")
    expected = {"clear": "met", "fired": "not met"}[sign.state]

    pack = sp.pilot_pack(demo_store, "SC-02", BASE)
    [line] = pack.decisions
    assert line.decision.decision == "scale" and line.decision.status == "due" and line.condition == expected
    data = sp.pilot_pdf(pack, paper)
    assert layout_problems(data) == [] and len(pdf_pages(data)) == 1
    text = page_text(data)
    assert (
        f"Committee decisions Scale · Due within 7 days (3 days left) · due {today + timedelta(days=3):%d %b %Y} · owner Ben Owner"
        in text
    )
    assert f"Warning sign {expected}: “{sign.question}”" in " ".join(text.split())
    assert "Conditions: Keep the KPI on plan" in text and "Earlier conditions" not in text and "Ann Owner" not in text
    assert "Taken at 05 Nov 2026 · November steering committee, on the numbers as of 05 Nov 2026 08:00 UTC" in text
    view = f"{BASE}/Risk?pilot=SC-02&as_of=2026-11-05T08%3A00%3A00"
    assert view in _uris(data)
    html = sp.pilot_html(pack)
    assert (
        f'<a href="{view.replace("&", "&amp;")}">' in html and "Ben Owner" in html and "Earlier conditions" not in html
    )


def test_a_pilot_pack_without_a_decision_keeps_the_room_for_its_charts(demo_store):
    pack = sp.pilot_pack(demo_store, "SC-02", BASE)
    assert pack.decisions == [] and "Committee decisions" not in sp.pilot_html(pack)
    assert "Committee decisions" not in page_text(sp.pilot_pdf(pack))


@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_the_portfolio_pack_lists_the_decisions_due_or_overdue_most_urgent_first(demo_store, paper):
    """An overdue decision, one due in two days and one open a month away: the pack lists the first
    two (overdue first) with their pilots, and counts the three in force."""
    from pilot_health.reports import meetings

    meeting = meetings.record_meeting(
        demo_store, "2026-10-15", "Autumn review", pd.Timestamp("2026-10-15 09:30").to_pydatetime()
    )
    today = utc_now().date()
    for pilot_id, due in (
        ("RO-05", today + timedelta(days=2)),
        ("CS-02", today - timedelta(days=4)),
        ("SC-02", today + timedelta(days=30)),
    ):
        meetings.record_decision(
            demo_store,
            pilot_id,
            meeting.meeting_id,
            "fix and review",
            f"Owner of {pilot_id}",
            due,
            conditions=f"Conditions for {pilot_id}",
        )
    pack = sp.portfolio_pack(demo_store, BASE)
    assert [(line.decision.pilot_id, line.decision.status) for line in pack.decisions] == [
        ("CS-02", "overdue"),
        ("RO-05", "due"),
    ]
    data = sp.portfolio_pdf(pack, paper)
    assert layout_problems(data) == []
    text = page_text(data)
    assert "Committee decisions due or overdue 2 of the 3 decisions in force: 1 overdue, 1 due within 7 days." in text
    assert text.index("CS-02 · Churn prediction: Fix and review · Overdue (4 days late)") < text.index(
        "RO-05 · Shelf image recognition: Fix"
    )
    assert "Conditions for SC-02" not in text and "Owner of SC-02" not in text
    assert f"{BASE}/Risk?pilot=CS-02&as_of=2026-10-15T09%3A30%3A00" in _uris(data)
    html = sp.portfolio_html(pack)
    assert (
        "<h2>Committee decisions due or overdue</h2>" in html
        and "Owner of CS-02" in html
        and "Owner of SC-02" not in html
    )


@pytest.mark.slow
def test_a_pinned_pack_shows_the_decisions_recorded_by_its_moment_and_a_limited_person_their_units_only(demo_store):
    """A pack pinned before a decision was recorded does not show it (the earlier decision is still
    in force there); a person limited to other business units sees none of the pilot's decisions."""
    import time

    from pilot_health.access import Person
    from pilot_health.reports import meetings

    meeting = meetings.record_meeting(
        demo_store, "2026-10-15", "Autumn review", pd.Timestamp("2026-10-15 09:30").to_pydatetime()
    )
    nothing_yet = utc_now()
    time.sleep(0.05)
    meetings.record_decision(
        demo_store, "CS-02", meeting.meeting_id, "continue", "First Owner", "2026-12-31", conditions="First"
    )
    time.sleep(0.05)
    pinned = utc_now()
    time.sleep(0.05)
    meetings.record_decision(
        demo_store, "CS-02", meeting.meeting_id, "stop", "Second Owner", utc_now().date(), conditions="Second"
    )
    assert [line.decision.owner for line in sp.pilot_pack(demo_store, "CS-02", BASE).decisions] == ["Second Owner"]
    assert [line.decision.owner for line in sp.pilot_pack(demo_store, "CS-02", BASE, pinned=pinned).decisions] == [
        "First Owner"
    ]
    assert [line.decision.owner for line in sp.portfolio_pack(demo_store, BASE).decisions] == ["Second Owner"]
    assert sp.portfolio_pack(demo_store, BASE, pinned=pinned).decisions == []  # due at the end of the year: open then
    before = sp.pilot_pack(demo_store, "CS-02", BASE, pinned=nothing_yet)
    assert before.decisions == [] and "Committee decisions" not in sp.pilot_html(before)

    unit = get_pilot(demo_store, "CS-02").business_unit
    others = sorted({get_pilot(demo_store, p).business_unit for p in ("SC-02", "RO-05", "FN-01")} - {unit})
    limited = demo_store.for_person(Person("lim@example.com", "viewer", tuple(others)))
    pack = sp.portfolio_pack(limited, BASE)
    assert pack.decisions == [] and pack.decisions_in_force == 0
    assert "CS-02" not in page_text(sp.portfolio_pdf(pack))


@pytest.fixture
def pack_makers(monkeypatch) -> dict[str, object]:
    """The steering packs a page offers, by the button's key: the function a click would call."""
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    offered: dict[str, object] = {}
    real = DeltaGenerator.download_button

    def capture(self, label, data, *args, **kwargs):
        if callable(data) and label.startswith("Steering pack"):
            offered[kwargs["key"]] = data
        return real(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", capture)
    monkeypatch.setattr(st, "download_button", lambda *args, **kwargs: capture(st._main, *args, **kwargs))
    return offered


@pytest.mark.slow
@pytest.mark.parametrize(
    "page, query, key, pilot",
    [(None, {}, "pack_portfolio.html", None), ("pages/3_Risk.py", {"pilot": "CS-01"}, "pack_pilot.html", "CS-01")],
    ids=["home", "risk"],
)
def test_the_packs_on_the_risk_and_home_pages_compare_with_the_last_meeting(
    demo_store, app_env, pack_makers, page, query, key, pilot
):
    """Without a meeting the packs have no “Since last meeting” section; once a meeting has reviewed
    an earlier moment, the pack made from the page compares with it (the same section the Since last
    meeting page's pack has), and a caption under the buttons names the meeting and its moment. A
    day in the address (?since=) is compared with instead."""
    from test_pages import assert_clean, open_page, texts

    from pilot_health.reports import meetings

    app_env(demo_store)
    at = open_page(page, **query)
    assert_clean(at)
    assert "Since last meeting" not in pack_makers[key]().decode()
    assert not [t for t in texts(at.caption) if "Since last meeting" in t]

    reviewed = utc_now().replace(microsecond=0)
    meetings.record_meeting(demo_store, reviewed.date(), "December steering committee", reviewed)
    before = reviewed - timedelta(seconds=1)
    meetings.record_meeting(demo_store, before.date(), "An earlier meeting", before)
    update_pilot(demo_store, get_pilot(demo_store, "CS-01").model_copy(update={"stage": "paused"}))
    at = open_page(page, **query)
    assert_clean(at)
    assert (
        f"The packs' “Since last meeting” section compares with the numbers the last meeting, “December steering committee” "
        f"({reviewed:%d %b %Y}), reviewed: {sp.moment(reviewed)}."
    ) in texts(at.caption)
    made = pack_makers[key]().decode()
    assert (
        f"<h2>Since last meeting ({sp.moment(reviewed)})</h2>" in made and "Stage moved from pilot to paused." in made
    )

    at = open_page(page, **query, since="2026-11-19")
    assert "The packs' “Since last meeting” section compares with 19 Nov 2026, the day in the page's address." in texts(
        at.caption
    )
    assert "<h2>Since last meeting (19 Nov 2026)</h2>" in pack_makers[key]().decode()


@pytest.mark.slow
@pytest.mark.parametrize("paper", ["a4", "letter"])
def test_the_demos_pilots_with_decisions_keep_their_page_with_the_changes_since_its_last_meeting(
    _demo_file, tmp_path, paper
):
    """The demo as shipped (its two meetings kept): each pilot the meetings decided about still fits
    on one page with its decision and the changes since October's meeting, nothing overlapping or
    past the margins and no chart label cut off (a panel with too little room gives way to a line
    saying where it is)."""
    import shutil

    from pilot_health.reports import meetings
    from pilot_health.store.database import Store

    path = tmp_path / "shipped.duckdb"
    shutil.copy(_demo_file, path)
    store = Store(path)
    october = meetings.meetings(store)[0]
    for pilot_id in ("SC-01", "FN-01", "MK-02", "RO-05", "CS-03"):
        sheet = sp.pilot_sheet(sp.pilot_pack(store, pilot_id, BASE, since=october.pinned_at), paper)
        data = sheet.output()
        assert layout_problems(data) == [] and len(pdf_pages(data)) == 1, (pilot_id, paper)
        for chart in sheet.charts:
            assert chart_problems(sp.scenegraph(chart.spec)) == [], (pilot_id, paper)
        text = page_text(data)
        assert (
            "Committee decisions" in text
            and "Since last meeting" in text
            and " steering committee, on the numbers as of " in text
        ), pilot_id
