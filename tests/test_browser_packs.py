"""The HTML steering packs in Chromium, opened offline from the file as a recipient would: printed
on A4 and Letter, a pilot's pack is one page and the portfolio's lists every pilot; in the printed
layout no text overlaps other text or a chart, and nothing runs past the page's printable width.
Boxes are the browser's own (getClientRects of every text node), so this is what a printer gets.
The PDF packs get the same check in test_steering_pack.py."""

from __future__ import annotations

import io

import pypdf
import pytest

from pilot_health.analytics import risk
from pilot_health.reports import steering_pack as sp

pytestmark = pytest.mark.browser
BASE = "http://dashboard.example:8501"
PAPERS = {"A4": (210, 297), "Letter": (215.9, 279.4)}
MARGIN_MM = 10  # the HTML pack's @page margin

# Every line box of every text node and every chart, in CSS pixels of the printed page.
BOXES = """() => {
  const boxes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) {
      if (r.width > 0.5 && r.height > 0.5) boxes.push({what: node.textContent.trim().slice(0, 60), x0: r.left, y0: r.top, x1: r.right, y1: r.bottom, chart: false});
    }
  }
  for (const img of document.querySelectorAll('img')) {
    const r = img.getBoundingClientRect();
    boxes.push({what: 'chart: ' + img.alt, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom, chart: true});
  }
  return boxes;
}"""


def overlaps(a: dict, b: dict, slack: float = 1.0) -> bool:
    return (
        a["x0"] < b["x1"] - slack
        and b["x0"] < a["x1"] - slack
        and a["y0"] < b["y1"] - slack
        and b["y0"] < a["y1"] - slack
    )


def printed(browser, html: bytes, tmp_path, paper: str) -> tuple[bytes, list[dict], float]:
    """The pack printed on `paper`, and its boxes laid out at that paper's printable width."""
    path = tmp_path / "pack.html"
    path.write_bytes(html)
    width_mm = PAPERS[paper][0] - 2 * MARGIN_MM
    context = browser.new_context(offline=True, viewport={"width": round(width_mm / 25.4 * 96), "height": 1000})
    try:
        tab = context.new_page()
        tab.goto(path.as_uri())
        pdf = tab.pdf(format=paper, print_background=True)
        tab.emulate_media(media="print")
        boxes = tab.evaluate(BOXES)
    finally:
        context.close()
    return pdf, boxes, width_mm / 25.4 * 96


@pytest.mark.parametrize("paper", list(PAPERS))
def test_the_html_packs_print_without_overlap_and_within_the_page(browser, demo_store, tmp_path, paper):
    for pilot_id in ("SC-01", "RO-02", "CS-04", "MK-04", None):
        html, _ = sp.export(demo_store, pilot_id=pilot_id, fmt="html", base_url=BASE)
        pdf, boxes, width = printed(browser, html, tmp_path, paper)
        pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
        if pilot_id:
            assert len(pages) == 1, (pilot_id, paper)
        else:
            text = " ".join(" ".join(page.extract_text().split()) for page in pages)
            assert all(r.pilot_id in text for r in risk.assess(demo_store)), paper
            assert "The committee's top 5 actions" in " ".join(pages[0].extract_text().split())
        assert boxes
        wide = [b["what"] for b in boxes if b["x0"] < -0.5 or b["x1"] > width + 0.5]
        assert not wide, (pilot_id, paper, wide)
        clashes = [
            (a["what"], b["what"])
            for i, a in enumerate(boxes)
            for b in boxes[i + 1 :]
            if not (a["chart"] and b["chart"]) and overlaps(a, b)
        ]
        assert not clashes, (pilot_id, paper, clashes[:5])


@pytest.mark.parametrize("paper", list(PAPERS))
def test_every_pilot_pack_with_decisions_and_the_changes_since_the_last_meeting_prints_on_one_page(
    browser, demo_store, tmp_path, paper
):
    """As the Risk page offers them in the demo: pinned at its now, compared with its last meeting (the
    decisions and the changes take room from the charts, never a second page, nothing overlapping)."""
    from pilot_health.demo.portfolio import DEMO_NOW
    from pilot_health.reports import meetings

    last = meetings.last_meeting(meetings.meetings(demo_store), DEMO_NOW)
    assert last is not None, "the demo has past meetings"
    for result in risk.assess(demo_store, as_of=DEMO_NOW):
        html, _ = sp.export(
            demo_store, pilot_id=result.pilot_id, fmt="html", base_url=BASE, pinned=DEMO_NOW, since=last.pinned_at
        )
        pdf, boxes, width = printed(browser, html, tmp_path, paper)
        assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages) == 1, (result.pilot_id, paper)
        assert b"Since last meeting" in html
        assert not [b["what"] for b in boxes if b["x0"] < -0.5 or b["x1"] > width + 0.5], (result.pilot_id, paper)
        clashes = [
            (a["what"], b["what"])
            for i, a in enumerate(boxes)
            for b in boxes[i + 1 :]
            if not (a["chart"] and b["chart"]) and overlaps(a, b)
        ]
        assert not clashes, (result.pilot_id, paper, clashes[:5])


def test_the_check_finds_text_on_top_of_text_and_text_past_the_page(browser, tmp_path):
    page = (
        b"<!DOCTYPE html><html><body style='margin:0'><p style='position:absolute;top:10px;left:10px'>First text</p>"
        b"<p style='position:absolute;top:14px;left:30px'>Second text</p>"
        b"<p style='position:absolute;top:100px;left:2000px;white-space:nowrap'>Runs off</p></body></html>"
    )
    _, boxes, width = printed(browser, page, tmp_path, "A4")
    assert [b["what"] for b in boxes if b["x1"] > width + 0.5] == ["Runs off"]
    assert [(a["what"], b["what"]) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if overlaps(a, b)] == [
        ("First text", "Second text")
    ]
