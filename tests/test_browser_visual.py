"""Every page as a person sees it, at 1280×800, 1440×900 and on a projector (1920×1080 at 150 %
zoom): compared with a stored screenshot, and checked for text cut off and for a raw "None".

A real headless Chromium against a real `streamlit run app.py` (one for this module) on the demo
portfolio as shipped, every page pinned to the demo's moment so the pictures do not change from
day to day (tests/visual_support.py explains how, and the tolerance). Each page is opened once per
scale and reused for both widths; its screenshot and findings serve the three tests below.

- test_page_looks_like_its_reference: the screenshot against tests/visual/references/<page>-<size>.png.
  A missing reference fails (with how to make one) unless PILOT_HEALTH_UPDATE_SCREENSHOTS=1, which
  writes references from this run instead (or: python tests/visual/update_references.py).
- test_no_text_is_cut_off: no metric label or value, table header or cell, tab label, caption,
  button, header or expander summary is cut, no dataframe must be scrolled sideways, no chart
  label is shortened with "…".
- test_no_none_is_shown: no "None" as a word in the page's text or in any dataframe cell.

Every screenshot, and on failure the reference and a diff, are saved in tests/visual/artifacts/.
Chromium comes from $PILOT_HEALTH_CHROMIUM, else `chromium` on PATH; without one, or with
$PILOT_HEALTH_BROWSER_SKIP set, everything here is skipped with the reason printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from browser_support import Dashboard, start_dashboard
from visual_support import (
    SIZES,
    UPDATE_VARIABLE,
    AppPage,
    Capture,
    ScreenSize,
    app_pages,
    artifact_path,
    compare,
    deterministic_demo_store,
    full_page_screenshot,
    open_page,
    reference_path,
    save_png,
    text_findings,
    updating,
    write_findings,
    write_reference,
)

pytestmark = pytest.mark.browser

PAGES = app_pages()
CASES = [pytest.param(page, size, id=f"{page.name}-{size.name}") for page in PAGES for size in SIZES]


@pytest.fixture(scope="module")
def dashboard(chromium_path, tmp_path_factory) -> Iterator[Dashboard]:
    """The real dashboard on the deterministic demo store. Depends on `chromium_path` so that a
    skip happens before any process is started."""
    folder = tmp_path_factory.mktemp("visual")
    db, env = deterministic_demo_store(folder)
    with start_dashboard(folder, db, env) as server:
        yield server


class Captures:
    """Screenshots and findings per (page, size), taken on first request: a page is opened once
    per device scale and measured at every size of that scale."""

    def __init__(self, browser, dashboard: Dashboard) -> None:
        self.browser, self.dashboard = browser, dashboard
        self.contexts: dict[float, object] = {}
        self.taken: dict[tuple[str, str], Capture | BaseException] = {}

    def _context(self, scale: float):
        if scale not in self.contexts:
            first = next(s for s in SIZES if s.scale == scale)
            context = self.browser.new_context(viewport=first.viewport, device_scale_factor=scale)
            origin = self.dashboard.url.rstrip("/") + "/"
            context.route(lambda url: not url.startswith(origin), lambda route: route.abort())
            self.contexts[scale] = context
        return self.contexts[scale]

    def _take(self, page: AppPage, scale: float) -> None:
        sizes = [s for s in SIZES if s.scale == scale]
        tab = self._context(scale).new_page()
        try:
            tab.set_viewport_size(sizes[0].viewport)
            open_page(tab, self.dashboard.url, page)
            for size in sizes:
                started = time.monotonic()
                try:
                    png = full_page_screenshot(tab, size)
                    findings = text_findings(tab)
                    save_png(png, artifact_path(page, size))
                    write_findings(page, size, findings)
                    self.taken[(page.name, size.name)] = Capture(png, findings, time.monotonic() - started)
                except Exception as error:  # one size failing must not hide the others
                    self.taken[(page.name, size.name)] = error
        except Exception as error:
            for size in sizes:
                self.taken.setdefault((page.name, size.name), error)
        finally:
            tab.close()

    def get(self, page: AppPage, size: ScreenSize) -> Capture:
        self.dashboard.assert_alive(f"before {page.label} was captured")
        if (page.name, size.name) not in self.taken:
            self._take(page, size.scale)
        taken = self.taken[(page.name, size.name)]
        if isinstance(taken, BaseException):
            self.dashboard.assert_alive(f"while {page.label} was captured")
            pytest.fail(f"{page.label} at {size.what} could not be captured: {taken}", pytrace=False)
        return taken

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


@pytest.fixture(scope="module")
def captures(browser, dashboard) -> Iterator[Captures]:
    taken = Captures(browser, dashboard)
    try:
        yield taken
    finally:
        taken.close()


def test_every_page_in_the_folder_is_checked():
    """A page added to pages/ is checked without editing this file."""
    from visual_support import ROOT

    assert {p.source for p in PAGES} == {"app.py", *(f"pages/{f.name}" for f in (ROOT / "pages").glob("*.py"))}
    assert len({p.name for p in PAGES}) == len(PAGES), "two views would share a reference"
    assert {p.name for p in PAGES} >= {"home", "Risk", "Risk-SC-01", "Alignment-RO-03", "Adoption-RO-02"}


@pytest.mark.parametrize("page, size", CASES)
def test_page_looks_like_its_reference(captures, page, size):
    shot = captures.get(page, size)
    reference = reference_path(page, size)
    for stale in (artifact_path(page, size, "diff"), artifact_path(page, size, "reference")):
        stale.unlink(missing_ok=True)  # from an earlier run that failed
    if updating():
        write_reference(shot.png, reference)
        return
    if not reference.exists():
        pytest.fail(
            f"There is no reference screenshot for {page.label} at {size.what}: {reference.relative_to(reference.parents[3])}. "
            f"This run's screenshot is {artifact_path(page, size)}; if it looks right, make it the reference with "
            f"{UPDATE_VARIABLE}=1 (or python tests/visual/update_references.py) and commit it.",
            pytrace=False,
        )
    result = compare(shot.png, reference, artifact_path(page, size, "diff"))
    if not result.matches:
        save_png(reference.read_bytes(), artifact_path(page, size, "reference"))
        pytest.fail(
            f"{page.label} at {size.what} no longer looks like its reference: {result.message}.\n"
            f"Actual: {artifact_path(page, size)}\nReference: {artifact_path(page, size, 'reference')}\n"
            f"Differences (red): {artifact_path(page, size, 'diff')}\n"
            f"If the change is intended, update the references ({UPDATE_VARIABLE}=1 or python tests/visual/update_references.py).",
            pytrace=False,
        )


@pytest.mark.parametrize("page, size", CASES)
def test_no_text_is_cut_off(captures, page, size):
    found = captures.get(page, size).findings
    assert not found.clipped, f"{page.label} at {size.what} cuts off text a person needs to read:\n" + "\n".join(
        f"  - {line}" for line in found.clipped
    )


@pytest.mark.parametrize("page, size", CASES)
def test_no_none_is_shown(captures, page, size):
    found = captures.get(page, size).findings
    assert not found.nones, f"{page.label} at {size.what} shows a raw “None”:\n" + "\n".join(
        f"  - {line}" for line in found.nones
    )


def test_the_text_checks_find_every_kind_of_fault_on_a_page_made_of_them(browser, tmp_path):
    """The checks checked: a page with known faults (tests/fixtures/visual/checker_app.py) at 1280
    px — each fault is named, and what is fine (a fitting metric, a dataframe whose empty cells show
    "—", "Nonetheless") is not."""
    from visual_support import ROOT, settle, text_findings

    folder = tmp_path
    env = dict(os.environ, PILOT_HEALTH_DEMO_ON_FIRST_RUN="no")
    script = ROOT / "tests" / "fixtures" / "visual" / "checker_app.py"
    with start_dashboard(folder, None, env, script=script) as server:
        context = browser.new_context(viewport={"width": 1280, "height": 2000})
        try:
            tab = context.new_page()
            tab.goto(server.url + "/", wait_until="domcontentloaded")
            settle(tab)
            found = text_findings(tab)
        finally:
            context.close()
    clipped, nones = "\n".join(found.clipped), "\n".join(found.nones)

    assert "in stMetricLabel in stMetric: “A metric label far too long for its narrow card”" in clipped, clipped
    assert (
        "in stMetricValue in stMetric: “1,234,567,890.12”" in clipped
        or "stMetricValue in stMetric: “1,234,567,890.12”" in clipped
    ), clipped
    assert "in stMetricDelta in stMetric: “a delta that is far too long as well”" in clipped, clipped
    assert "“Fits”" not in clipped and "“7”" not in clipped
    assert "header “A header far wider than its column” is cut" in clipped, clipped
    assert "column “Business KPI” cuts 1 cell(s), e.g. “Customer acquisition payback period in months”" in clipped, (
        clipped
    )
    assert "cut off at the right from “" in clipped, clipped  # ten columns in a third of the page
    assert "stTable" in clipped and "an_unbreakable_cell_value" in clipped, clipped
    assert "label shortened by the chart" in clipped and "SC-01" in clipped, clipped
    assert "column “Owner” shows 1 empty cell(s) as “None”" in nones, nones
    assert "“Sponsor: None”" in nones, nones
    assert "Sponsor” shows" not in nones and "Nonetheless" not in nones, nones  # "—" as placeholder; a longer word


def test_the_comparison_tolerates_rendering_noise_and_catches_a_changed_number(tmp_path):
    """The tolerance itself, on pictures drawn here: scattered differing pixels all over the picture
    (noise) and faint differences pass; one changed figure in a metric fails — though it changes far
    fewer pixels than the noise — with a diff image that marks it; another size never matches."""
    import io
    import random

    from PIL import Image, ImageDraw
    from visual_support import MAX_BLOCK_PIXELS, PIXEL_THRESHOLD

    def screen(figure: str) -> Image.Image:
        image = Image.new("RGB", (1280, 900), "white")
        draw = ImageDraw.Draw(image)
        for row in range(20):
            draw.text(
                (40, 40 + row * 40),
                f"Pilot {row:02d} · Fresh produce demand forecasting · budget 1.4M",
                fill=(40, 40, 40),
            )
        draw.rectangle((900, 100, 1200, 260), outline=(200, 200, 200))
        draw.text((920, 150), figure, fill=(20, 20, 20), font_size=48)
        return image

    def png(image: Image.Image) -> bytes:
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

    reference = tmp_path / "reference.png"
    screen("24.48M").save(reference)

    noisy = screen("24.48M")
    pixels, rng = noisy.load(), random.Random(18)
    for _ in range(3_000):  # scattered pixels far off, as anti-aliasing differences would be
        x, y = rng.randrange(noisy.width), rng.randrange(noisy.height)
        pixels[x, y] = tuple(255 - v for v in pixels[x, y])
    for _ in range(50_000):  # and faint differences everywhere
        x, y = rng.randrange(noisy.width), rng.randrange(noisy.height)
        pixels[x, y] = tuple(max(0, min(255, v + rng.randint(-PIXEL_THRESHOLD, PIXEL_THRESHOLD))) for v in pixels[x, y])
    quiet = compare(png(noisy), reference)
    assert quiet.matches, quiet.message

    diff = tmp_path / "diff.png"
    changed = compare(png(screen("26.48M")), reference, diff)
    assert not changed.matches, changed.message
    assert changed.different_share < quiet.different_share and changed.densest_block > MAX_BLOCK_PIXELS, changed.message
    assert "x 9" in changed.message, changed.message  # the differences lie in the metric's box (x 920…)
    marked = Image.open(diff).convert("RGB")
    red = [(x, y) for y in range(0, 900, 2) for x in range(0, 1280, 2) if marked.getpixel((x, y)) == (230, 0, 0)]
    assert red and all(900 <= x <= 1200 and 100 <= y <= 260 for x, y in red), red[:5]

    resized = compare(png(screen("24.48M").crop((0, 0, 1280, 880))), reference)
    assert not resized.matches and "size changed from 1280×900 to 1280×880" in resized.message
