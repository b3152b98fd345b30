"""Uploaded text is shown as text, never as markup: a real headless Chromium against a real
`streamlit run app.py`, on a demo store into which a pilot register, a metric export and an ADKAR
survey full of script, style, form, iframe, image and Markdown payloads were fed through the real
upload engine (`python -m pilot_health ingest`) before the server started.

Every page that shows user text is opened with a link that selects the payload pilot. Once the
page has drawn the payloads' literal text (which proves the data went through — a page that simply
left it out fails), the test checks that none of it became markup: no element carrying the
payloads' marker attribute (`data-xss`, so Streamlit's own tags cannot fool the check), no script
having run (`window.__xss`), no link, image, iframe or form pointing at evil.example, and no
request to it. Tables are a canvas grid whose accessible DOM copy only holds the cells in view, so
grids are scrolled through to read every cell; charts are Vega SVG, whose text is text.

Chromium comes from $PILOT_HEALTH_CHROMIUM, else `chromium` on PATH; without one every test here
is skipped with the reason (pytest runs with -rs). Machinery shared with the other browser tests
is in browser_support.py.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import unquote, urlencode, urlsplit

import pytest
from browser_support import (
    FIRST_RENDER_MS,
    RENDERED_MS,
    ROOT,
    Dashboard,
    assert_no_errors_shown,
    load_demo_store,
    open_expander,
    open_link,
    start_dashboard,
)

pytestmark = pytest.mark.browser

# --- The payloads ---------------------------------------------------------------------------------
# Each HTML payload carries the marker attribute data-xss; the scripts set window.__xss.
SCRIPT = "<script data-xss>window.__xss=1</script>"
STYLE = "<style data-xss>body{display:none}</style>"
FORM = '<form data-xss action="http://evil.example/"><input name="q"></form>'
IFRAME = '<iframe data-xss src="http://evil.example/"></iframe>'
IMG = '<img data-xss src="x" onerror="window.__xss=2">'
LINK = "[click me](http://evil.example/)"
PICTURE = "![pic](http://evil.example/p.png)"
PAYLOADS = (SCRIPT, STYLE, FORM, IFRAME, IMG, LINK, PICTURE)

# The register's free-text fields, each within its length limit (src/pilot_health/models.py). The
# payload pilot's business unit is a payload too, so that the pages' unit captions are checked.
NAME = f"Forecast {SCRIPT} {LINK}"  # at most 120 characters
UNIT = f"{PICTURE} {STYLE}"  # at most 80
USE_CASE = f"{STYLE} {IFRAME} {LINK}"
OWNER = f"{IFRAME} {LINK} boss@evil.example"  # an address Markdown would link by itself (mailto:)
SPONSOR = f"{FORM} {PICTURE}"
CHAMPION = f"{IMG} {LINK}"
VENDOR = f"{STYLE} {LINK}"
KPI = f"Margin {IFRAME} {PICTURE}"  # at most 120; also the KPI's metric name in the metric export
KPI_UNIT = "[%](http://evil.example/)"  # at most 30
INTEGRATION = f"{IMG} {LINK}"  # at most 80
ACCOUNTABLE = f"{SCRIPT} {PICTURE}"
TEAM = IFRAME  # the survey team (7 respondents, so it is shown)
TEAM_SIZES = f"{TEAM}: 12; Operations: 20"
SECOND_NAME = f"Second {IMG} {PICTURE}"
SECOND_UNIT = FORM
SECOND_OWNER = f"{SCRIPT} {LINK}"
# A technical metric (no "=" in it: the command line's --metric NAME=… splits there) and its unit.
METRIC = f"Accuracy {STYLE} {LINK}"
METRIC_UNIT = "<style data-xss>u</style>"
# Who uploaded (ingest --by) and who set a threshold.
UPLOADER = f"{IMG} {LINK}"
THRESHOLD_SETTER = f"{FORM} {LINK}"
THRESHOLD_KEY, THRESHOLD_VALUE = "analysis.drift_critical", 3.5
# File names (no "/" possible); Markdown links without a scheme still point at evil.example.
REGISTER_FILE = "register <form data-xss action=http:evil.example><input name=q>.csv"
METRICS_FILE = "metrics ![pic](evil.example) [click me](www.evil.example).csv"
SURVEY_FILE = "survey <img data-xss src=x onerror=window.__xss=3> [click me](evil.example).csv"
BROWSER_FILE = "wide <iframe data-xss src=x> [click me](evil.example) www.evil.example.csv"
BROWSER_METRIC = f"{LINK} {IMG}"  # a column header of the file uploaded in the browser: the metric's name
SURVEY_COMMENTS = PAYLOADS  # one respondent's comment each

PILOT, SECOND = "XS-01", "XS-02"
HEADING = f"{PILOT} · {NAME}"

# Everything in the page that could be markup made from a payload.
MARKUP_CHECKS = {
    "an element with the payloads' data-xss attribute": "[data-xss]",
    "a link to evil.example": 'a[href*="evil.example"]',
    "an image from evil.example": 'img[src*="evil.example"]',
    "an iframe of evil.example": 'iframe[src*="evil.example"]',
    "a form posting to evil.example": 'form[action*="evil.example"]',
}


# --- The store: the demo, and the payloads fed through the upload engine ---------------------------


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(header))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _register_rows(today: date) -> list[dict]:
    day = lambda n: (today - timedelta(days=n)).isoformat()  # noqa: E731
    later = lambda n: (today + timedelta(days=n)).isoformat()  # noqa: E731
    first = dict(
        pilot_id=PILOT,
        name=NAME,
        business_unit=UNIT,
        use_case=USE_CASE,
        owner=OWNER,
        executive_sponsor=SPONSOR,
        sponsor_level="director",
        change_champion=CHAMPION,
        vendor=VENDOR,
        stage="pilot",
        approved_on=day(400),
        stage_since=day(300),
        target_production_on=later(200),
        budget="500000",
        spend_to_date="300000",
        target_users="40",
        team_sizes=TEAM_SIZES,
        kpi_name=KPI,
        kpi_baseline="10",
        kpi_target="20",
        kpi_unit=KPI_UNIT,
        kpi_deadline=later(100),
        pipeline_automated="no",
        change_plan="no",
        monitoring_in_place="no",
        data_effort_pct="20",
        integration_target=INTEGRATION,
        accountable_owner=ACCOUNTABLE,
    )
    second = dict(pilot_id=SECOND, name=SECOND_NAME, business_unit=SECOND_UNIT, stage="proposed", owner=SECOND_OWNER)
    return [first, second]


def _metric_rows(today: date) -> list[dict]:
    rows = []
    for week in range(20):  # twenty live weeks of the technical metric and of the KPI
        day = (today - timedelta(days=7 * (20 - week))).isoformat()
        rows.append(dict(pilot_id=PILOT, date=day, metric=METRIC, value=f"{0.70 + 0.01 * week:.3f}"))
        rows.append(dict(pilot_id=PILOT, date=day, metric=KPI, value=f"{10 + 0.1 * week:.2f}"))
    return rows


def _survey_rows(today: date) -> list[dict]:
    scores = [
        (4, 4, 3, 3, 2),
        (5, 4, 4, 3, 3),
        (3, 3, 2, 2, 1),
        (4, 4, 4, 3, 3),
        (5, 5, 4, 4, 3),
        (4, 3, 3, 2, 2),
        (4, 4, 3, 3, 3),
    ]
    return [
        dict(
            pilot_id=PILOT,
            respondent=f"R{i:02d}",
            responded_at=(today - timedelta(days=10 - i)).isoformat(),
            team=TEAM,
            role="Planner",
            awareness=a,
            desire=d,
            knowledge=k,
            ability=b,
            reinforcement=r,
            comment=comment,
        )
        for i, ((a, d, k, b, r), comment) in enumerate(zip(scores, SURVEY_COMMENTS), start=1)
    ]


def _run(args: Sequence[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {done.returncode}).\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}", pytrace=False
        )
    return done.stdout


def _ingest(path: Path, db: Path, env: dict[str, str], *options: str) -> dict:
    out = _run(
        ["-m", "pilot_health", "ingest", str(path), "--db", str(db), "--json", *options], env, f"ingest {path.name}"
    )
    result = json.loads(out)
    assert result["status"] == "stored" and result["rows_rejected"] == 0, out
    return result


# The threshold's setter can only be named through the library (the Thresholds page records the
# signed-in person, "dashboard user" here); it runs as a program of its own, like the command line.
SET_THRESHOLD = """
import sys
from pilot_health.access import Person
from pilot_health.store.database import Store
from pilot_health.rules.thresholds import save_thresholds
print(save_thresholds(Store(sys.argv[1]), {sys.argv[2]: float(sys.argv[3])}, Person(sys.argv[4], "admin")))
"""


@pytest.fixture(scope="module")
def dashboard(chromium_path, tmp_path_factory) -> Iterator[Dashboard]:
    """The real dashboard on the demo store with the two payload pilots, their data and a
    threshold set by a payload person. Depends on `chromium_path` so that a skip comes first."""
    from pilot_health.register.pilots import template_csv

    folder = tmp_path_factory.mktemp("browser_markup")
    db, env = load_demo_store(folder)
    today = date.today()
    header = next(csv.reader(io.StringIO(template_csv().decode("utf-8"))))
    register = _write_csv(folder / REGISTER_FILE, header, _register_rows(today))
    metrics = _write_csv(folder / METRICS_FILE, ["pilot_id", "date", "metric", "value"], _metric_rows(today))
    survey = _write_csv(
        folder / SURVEY_FILE,
        [
            "pilot_id",
            "respondent",
            "responded_at",
            "team",
            "role",
            "awareness",
            "desire",
            "knowledge",
            "ability",
            "reinforcement",
            "comment",
        ],
        _survey_rows(today),
    )
    stored = _ingest(register, db, env, "--kind", "pilots", "--by", UPLOADER)
    assert stored["pilots"] == [PILOT, SECOND], stored
    stored = _ingest(
        metrics,
        db,
        env,
        "--kind",
        "metrics",
        "--environment",
        "live",
        "--metric",
        f"{METRIC}=technical:up:{METRIC_UNIT}",
    )
    assert sorted(stored["metrics"]) == sorted([METRIC, KPI]) and stored["rows_stored"] == 40, stored
    stored = _ingest(survey, db, env, "--kind", "survey", "--wave", "1", "--by", UPLOADER)
    assert stored["rows_stored"] == len(SURVEY_COMMENTS), stored
    _run(
        ["-c", SET_THRESHOLD, str(db), THRESHOLD_KEY, str(THRESHOLD_VALUE), THRESHOLD_SETTER],
        env,
        "setting a threshold",
    )
    with start_dashboard(folder, db, env) as server:
        yield server


# --- Reading the page -----------------------------------------------------------------------------

# The grid's accessible copy holds only the cells in view: scroll each grid through its whole
# extent and collect the text of every cell shown on the way.
GRID_TEXTS = """async (grid, pause) => {
  const scroller = grid.querySelector('.dvn-scroller');
  const seen = new Set();
  const grab = () => grid.querySelectorAll('[data-testid^="glide-cell-"]').forEach(c => seen.add(c.textContent));
  grab();
  if (!scroller) return [...seen];
  const wait = () => new Promise(done => requestAnimationFrame(() => setTimeout(done, pause)));
  for (let top = 0; ; top += Math.max(scroller.clientHeight / 2, 20)) {
    for (let left = 0; ; left += Math.max(scroller.clientWidth / 2, 20)) {
      scroller.scrollTo(left, top);
      await wait();
      grab();
      if (left + scroller.clientWidth >= scroller.scrollWidth) break;
    }
    if (top + scroller.clientHeight >= scroller.scrollHeight) break;
  }
  scroller.scrollTo(0, 0);
  return [...seen];
}"""

# Where an element sits: the nearest Streamlit element around it (st.markdown's inner container skipped).
WHERE = """e => { let c = e;
  while (c && !(c.dataset && (c.dataset.testid || '').startsWith('st') && c.dataset.testid !== 'stMarkdownContainer')) c = c.parentElement;
  return e.outerHTML.slice(0, 160) + '  (in ' + (c ? c.dataset.testid : 'the page') + ')'; }"""


def grid_texts(page, pause_ms: int) -> list[str]:
    """The text of every cell of every table on the page (a table the page redraws meanwhile is
    left out; the caller asks again)."""
    from playwright.sync_api import Error as PlaywrightError

    texts: list[str] = []
    grids = page.get_by_test_id("stDataFrame")
    for index in range(grids.count()):
        try:
            texts += grids.nth(index).evaluate(GRID_TEXTS, pause_ms, timeout=RENDERED_MS)
        except PlaywrightError:
            continue
    return texts


def _visible_characters(text: str) -> str:
    """The text without zero-width characters, which a page may put into user text to keep
    Markdown from turning an address in it into a link; they change nothing a person reads."""
    return re.sub("[\u200b-\u200d\u2060\ufeff]", "", text)


def missing_texts(page, expected: Sequence[str], timeout_ms: int = RENDERED_MS) -> list[str]:
    """Wait until every text in `expected` is in the page as text — in the document's text (SVG
    chart text included) or in a cell of a table — and return those that never were."""
    deadline = time.monotonic() + timeout_ms / 1000
    pause = 150
    while True:
        body = _visible_characters(page.evaluate("document.body.textContent"))
        missing = [t for t in expected if t not in body]
        if missing:
            cells = _visible_characters("\n".join(grid_texts(page, pause)))
            missing = [t for t in missing if t not in cells]
        if not missing or time.monotonic() > deadline:
            return missing
        pause = min(pause * 2, 600)  # a busy machine redraws the grid more slowly
        page.wait_for_timeout(300)


def markup_found(page) -> list[str]:
    """Every sign in the page that a payload became markup, each with the element and where it is."""
    found = [
        f"{what}: {html}"
        for what, selector in MARKUP_CHECKS.items()
        for html in page.locator(selector).evaluate_all(f"els => els.map({WHERE})")
    ]
    flag = page.evaluate("window.__xss")
    if flag is not None:
        found.append(f"a payload's script ran: window.__xss = {flag!r}")
    return found


def _to_evil(url: str) -> bool:
    """A request for evil.example itself, or for a path named after it (a relative link or image);
    not the page's own address, whose query may name a payload."""
    parts = urlsplit(url)
    return (parts.hostname or "").endswith("evil.example") or "evil.example" in unquote(parts.path)


class Findings:
    """What a test finds wrong on its page, reported all together at its end, so that one finding
    does not hide the next: payload text that is not on the page as text, inputs that do not hold
    it, markup made from it, and requests the page tried to make to evil.example (the page
    fixture's routes refuse them)."""

    def __init__(self, page, dashboard: Dashboard) -> None:
        self.page, self.dashboard = page, dashboard
        self.items: list[str] = []
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url) if _to_evil(request.url) else None)

    def texts(self, where: str, expected: Sequence[str], timeout_ms: int = RENDERED_MS) -> None:
        missing = missing_texts(self.page, expected, timeout_ms)
        if missing:
            self.dashboard.assert_alive(f"while {where} was drawing")
            self.items += [f"{where}: not shown as text: {text}" for text in missing]

    def values(self, where: str, values: Sequence[tuple[str, str]]) -> None:
        from playwright.sync_api import expect

        for label, value in values:
            box = self.page.get_by_label(label, exact=True).first
            try:
                expect(box).to_have_value(value, timeout=RENDERED_MS)
            except AssertionError:
                shown = box.input_value(timeout=1000) if box.count() else "(no such input)"
                self.items.append(f"{where}: the input “{label}” holds {shown!r}, not {value!r}")

    def markup(self, where: str) -> None:
        self.items += [
            f"{where}: {found}" for found in markup_found(self.page) if f"{where}: {found}" not in self.items
        ]

    def assert_none(self) -> None:
        items = self.items + [f"a request to {url}" for url in dict.fromkeys(self.requests)]
        assert not items, "uploaded text did not reach the page as plain text:\n" + "\n".join(
            f"  - {item}" for item in items
        )


# --- The pages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    link: str
    ready: str  # a text the page draws (exactly) once it is there
    texts: tuple[str, ...]  # payload texts that must be on the page, as text
    values: tuple[tuple[str, str], ...] = ()  # (an input's label, the payload it must hold as its value)
    expanders: tuple[str, ...] = ()  # expanders to open first
    except_saying: str | None = None  # a red box the page shows on purpose


def _query(**params: str | Sequence[str]) -> str:
    return "?" + urlencode(
        [(key, value) for key, values in params.items() for value in ([values] if isinstance(values, str) else values)]
    )


VIEWS = {
    # "More columns" (part of the address) shows every column: the business unit is one of them
    "portfolio": View("/" + _query(more_columns="true"), "All pilots", (NAME, UNIT, SECOND_NAME, SECOND_UNIT)),
    "portfolio-filtered-to-payload-units": View(
        "/" + _query(bu=[UNIT, SECOND_UNIT]),
        "All pilots",
        (UNIT, SECOND_UNIT, NAME, SECOND_NAME, f"Filtered to {UNIT}, {SECOND_UNIT}."),
    ),
    "register": View(
        "/Pilot_register" + _query(pilot=PILOT, register_more="true"),
        "Add or edit a pilot",
        (NAME, UNIT, OWNER, SPONSOR, CHAMPION, KPI, SECOND_NAME, SECOND_UNIT, SECOND_OWNER, f"{NAME} · {UNIT} · Pilot"),
        values=(
            ("Name *", NAME),
            ("Business unit *", UNIT),
            ("Use case", USE_CASE),
            ("Owner", OWNER),
            ("Executive sponsor", SPONSOR),
            ("Change champion", CHAMPION),
            ("Vendor", VENDOR),
            ("Team sizes", TEAM_SIZES),
            ("Business KPI", KPI),
            ("KPI unit", KPI_UNIT),
            ("Integration target", INTEGRATION),
            ("Accountable owner", ACCOUNTABLE),
        ),
    ),
    "upload-history": View("/Upload_data", "Uploads so far", (REGISTER_FILE, METRICS_FILE, SURVEY_FILE, UPLOADER)),
    "risk": View(
        "/Risk" + _query(pilot=PILOT),
        "What to do next",
        (HEADING, UNIT, SPONSOR, CHAMPION, ACCOUNTABLE, INTEGRATION, KPI, METRIC),
        except_saying="Health: ",
    ),
    "alignment": View(
        "/Alignment" + _query(pilot=PILOT),
        "Technical vs business alignment",
        (HEADING, UNIT, NAME, METRIC, KPI, METRIC_UNIT),
        values=(("Technical metric", METRIC),),
        expanders=("Every metric", "Metric dictionary"),
    ),
    "adoption": View(
        "/Adoption" + _query(pilot=PILOT),
        "Adoption: readiness and real usage",
        (HEADING, UNIT, NAME, TEAM, *SURVEY_COMMENTS),
        expanders=("The team table", "Comments"),
    ),
    "adoption-payload-team": View(
        "/Adoption" + _query(pilot=PILOT, team=TEAM),
        "Adoption: readiness and real usage",
        (HEADING, TEAM, f"{TEAM}: mean score of each element", *SURVEY_COMMENTS),
        values=(("Team", TEAM),),
        expanders=("Comments",),
    ),
    "audit-trail": View(
        "/Audit_trail",
        "Audit trail",
        (UPLOADER, THRESHOLD_SETTER, REGISTER_FILE, METRICS_FILE, SURVEY_FILE, f"pilots {PILOT}, {SECOND}"),
    ),
    "audit-trail-by-payload-person": View(
        "/Audit_trail" + _query(who=UPLOADER), "Audit trail", (UPLOADER, REGISTER_FILE, SURVEY_FILE)
    ),
    "thresholds": View("/Thresholds", "Thresholds", (THRESHOLD_SETTER,), expanders=("Set on this page",)),
}


def check_view(page, dashboard: Dashboard, view: View, findings: Findings) -> None:
    """Open the view's link, wait until it has drawn its payload texts, and note what is wrong."""
    open_link(page, dashboard, view.link, view.ready)
    for title in view.expanders:
        open_expander(page, title)
    findings.texts(view.link, view.texts)
    findings.values(view.link, view.values)
    findings.markup(view.link)


@pytest.mark.parametrize("name", list(VIEWS))
def test_uploaded_text_is_shown_as_text_not_markup(page, dashboard, script_errors, name):
    view = VIEWS[name]
    findings = Findings(page, dashboard)
    check_view(page, dashboard, view, findings)
    findings.assert_none()
    assert_no_errors_shown(page, script_errors, except_saying=view.except_saying)


def test_saving_a_payload_pilot_confirms_it_as_text(page, dashboard, script_errors):
    """Saving the payload pilot's record unchanged: the confirmation names the pilot."""
    from playwright.sync_api import expect

    view = VIEWS["register"]
    findings = Findings(page, dashboard)
    check_view(page, dashboard, view, findings)
    page.get_by_role("button", name=f"Save changes to {PILOT}").click()
    toast = page.get_by_test_id("stToast").first
    expect(toast).to_be_visible(timeout=RENDERED_MS)
    findings.markup("the save confirmation")  # while the toast is still up
    findings.texts("the save confirmation", (f"Saved {PILOT} · {NAME}.",), timeout_ms=2000)
    findings.texts(f"{view.link} after saving", view.texts)
    findings.markup(f"{view.link} after saving")
    findings.assert_none()
    assert_no_errors_shown(page, script_errors)


def test_a_file_uploaded_in_the_browser_shows_its_name_and_headers_as_text(page, dashboard, script_errors):
    """The upload page as a person uses it, with a file whose name and metric column are payloads:
    the check before storing, the receipt, the history and the choices of uploads to withdraw."""
    from playwright.sync_api import expect

    today = date.today()
    rows = [["pilot_id", "date", "environment", BROWSER_METRIC]]
    rows += [
        [PILOT, (today - timedelta(days=7 * week)).isoformat(), "lab", f"{0.5 + 0.01 * week:.2f}"]
        for week in range(1, 7)
    ]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    findings = Findings(page, dashboard)

    open_link(page, dashboard, "/Upload_data", "Upload data")
    page.locator('input[type="file"]').set_input_files(
        {"name": BROWSER_FILE, "mimeType": "text/csv", "buffer": text.getvalue().encode("utf-8")}
    )
    expect(page.get_by_text("Check before storing")).to_be_visible(timeout=FIRST_RENDER_MS)
    open_expander(page, "Columns and what they feed")  # one choice per column, labelled with its header
    findings.texts("the check before storing", (BROWSER_FILE, BROWSER_METRIC))
    findings.markup("the check before storing")
    assert_no_errors_shown(page, script_errors)

    store = page.get_by_role("button", name="Store 6 rows")
    expect(store).to_be_enabled(timeout=RENDERED_MS)
    store.click()
    receipt = page.get_by_test_id("stAlertContentSuccess").filter(has_text="Stored 6 rows from ")
    expect(receipt).to_be_visible(timeout=FIRST_RENDER_MS)
    # Storing reruns the page and redraws both tables: on a loaded CI machine that takes far longer than a redraw.
    findings.texts(
        "the receipt and the history",
        (f"Stored 6 rows from {BROWSER_FILE} as upload ", BROWSER_METRIC, UPLOADER, SURVEY_FILE),
        timeout_ms=FIRST_RENDER_MS,
    )
    findings.markup("the receipt and the history")

    page.get_by_role("combobox", name="Withdraw an upload").click()  # the choices are drawn once the list is open
    options = page.get_by_role("option")
    expect(options.filter(has_text=BROWSER_FILE)).to_have_count(1, timeout=RENDERED_MS)
    expect(options.filter(has_text=SURVEY_FILE)).to_have_count(1, timeout=RENDERED_MS)
    findings.markup("the uploads to withdraw")
    page.keyboard.press("Escape")
    findings.assert_none()
    assert_no_errors_shown(page, script_errors)
