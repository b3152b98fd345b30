"""The steering pack on the demo store: a one-page PDF per pilot (A4 and Letter) with the pilot's name
and five pattern scores, a one-page portfolio PDF, self-contained HTML that escapes every stored
text, pinned packs that do not move, and the `export` command."""
from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pypdf
import pytest

from conftest import run_cli
from pilot_health import risk, steering_pack as sp
from pilot_health.catalogue import PATTERN_KEYS
from pilot_health.pilots import get_pilot, update_pilot
from pilot_health.store import utc_now

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
    assert (round(float(box.width) * MM_PER_POINT, 1), round(float(box.height) * MM_PER_POINT, 1)) == pytest.approx(size_mm, abs=0.5)
    text = page_text(data)
    result = risk.assess(demo_store, None, ["SC-01"])[0]
    assert "SC-01 · Fresh produce demand forecasting" in text
    for key in PATTERN_KEYS:
        assert f"{result.patterns[key].name} {sp.score_text(result, key)}" in text, key
    assert f"Health: {risk.HEALTH_LABELS[result.health]}." in text
    assert "Technical vs business" in text and "Adoption" in text and "Next actions" in text
    assert f"Live view: {BASE}/Risk?pilot=SC-01" in text


def test_the_portfolio_pack_is_one_page_with_every_pilot(demo_store):
    data, _ = sp.export(demo_store, pilot_id=None, fmt="pdf", base_url=BASE)
    assert len(pdf_pages(data)) == 1
    text = page_text(data)
    results = risk.assess(demo_store)
    assert all(r.pilot_id in text for r in results)
    html, _ = sp.export(demo_store, pilot_id=None, fmt="html", base_url=BASE)
    assert all(f"<td>{r.pilot_id}</td>" in html.decode() for r in results)


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
    assert "Fresh produce demand forecasting" in after and "(pinned)" in after and f"as_of={pinned.isoformat()}".replace(":", "%3A") in after
    assert "Renamed afterwards" in page_text(sp.export(demo_store, pilot_id="SC-01", fmt="pdf", base_url=BASE)[0])


def test_the_export_command_writes_the_same_documents(demo_store, tmp_path):
    out = tmp_path / "pack.pdf"
    done = run_cli("export", "--db", str(demo_store.path), "--pilot", "sc-01", "--format", "pdf", "--out", str(out), "--json",
                   env={"PILOT_HEALTH_PUBLIC_URL": BASE, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["file"] == str(out) and payload["bytes"] == out.stat().st_size
    assert len(pdf_pages(out.read_bytes())) == 1 and f"{BASE}/Risk?pilot=SC-01" in page_text(out.read_bytes())
    done = run_cli("export", "--db", str(demo_store.path), "--portfolio", "--format", "html", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    [written] = list(tmp_path.glob("pilot_health_portfolio_*.html"))
    assert "Portfolio · steering summary" in written.read_text(encoding="utf-8")
    done = run_cli("export", "--db", str(demo_store.path), "--pilot", "NOPE", "--format", "pdf", "--out", str(out))
    assert done.returncode == 1 and "There is no pilot NOPE" in done.stderr
    done = run_cli("export", "--db", str(demo_store.path), "--format", "pdf", "--out", str(out))
    assert done.returncode == 2 and "one of the arguments --pilot --portfolio is required" in done.stderr
