"""What the visual regression check needs: every page of the dashboard, the screen sizes it is
looked at, a store whose pictures do not change from day to day, full-page screenshots without
Streamlit's moving parts, a pixel comparison with a tolerance, and the browser-side checks that no
visible text is cut off and no "None" is shown.

How it fits together (docs/developing.md, "Visual regression check", says the same for people):

- Pages come from the folder: app.py (the home page) and every pages/*.py, so a new page is
  checked as soon as it exists (it then needs a reference: see below).
- Sizes: 1280×800 and 1440×900 CSS pixels at scale 1, and the projector — 1920×1080 at 150 %
  zoom, which lays pages out exactly like a 1280×720 CSS viewport with a device scale factor of
  1.5 (what Chromium does when a person zooms to 150 %); its screenshot is taken in device pixels
  (1920 wide), so text is drawn as the projector draws it.
- The store: the demo portfolio as shipped (`load_demo(today=DEMO_NOW.date())`, never re-dated to
  the real today), with the store's own bookkeeping of when it was loaded (last change, first run,
  the audit line of the demo load) set to the demo's moment; every page is opened pinned to that
  moment (`?as_of=2026-11-19T17:00:00`, the app's own pinned links), so "today" is that day for
  every number, and the screenshots are the same every day. The upload page cannot be pinned; it
  shows nothing that depends on the day.
- A screenshot is taken once the script has finished running, fonts, images and charts are
  drawn, with Streamlit's header, toolbar, running-man status, spinners, animations and the text
  caret hidden, the viewport stretched to the page's whole height (Streamlit scrolls inside its
  main element, not the document), and two screenshots in a row are identical.
- Comparison (Pillow): a pixel differs when one of its channels differs by more than
  PIXEL_THRESHOLD (of 255; anti-aliasing noise stays below it). A screenshot matches when it has
  the reference's size, at most MAX_DIFFERENT_SHARE of its pixels differ, and no BLOCK×BLOCK square
  holds more than MAX_BLOCK_PIXELS of them: scattered noise passes, while a changed number — a few
  hundred pixels in a multi-million-pixel page, far below any share that tolerates noise — fails.
- Artefacts: every screenshot is saved in tests/visual/artifacts/ (git-ignored; or
  $PILOT_HEALTH_VISUAL_ARTIFACTS); on a mismatch also the reference and a diff image (the
  reference faded to grey, differing pixels red), plus what the text checks found.
- References live in tests/visual/references/<page>-<size>.png. PILOT_HEALTH_UPDATE_SCREENSHOTS=1
  (or `python tests/visual/update_references.py`) writes them from this run instead of comparing.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from browser_support import FIRST_RENDER_MS, ROOT

VISUAL_DIR = ROOT / "tests" / "visual"
REFERENCES = VISUAL_DIR / "references"
ARTIFACTS = Path(os.environ.get("PILOT_HEALTH_VISUAL_ARTIFACTS") or VISUAL_DIR / "artifacts")
UPDATE_VARIABLE = "PILOT_HEALTH_UPDATE_SCREENSHOTS"

PIXEL_THRESHOLD = 40  # of 255, per channel: anti-aliased edges and sub-pixel text differ by less
MAX_DIFFERENT_SHARE = 0.005  # 0.5 % of the pixels may differ, scattered (noise) …
BLOCK = 24  # … but no BLOCK×BLOCK square (device pixels) may hold more than
MAX_BLOCK_PIXELS = 16  # this many differing pixels: a changed digit or word concentrates its differences
STABLE_TRIES = 12  # screenshots taken until two in a row are identical
STABLE_PAUSE_S = 0.25

# The moment every page is pinned to: the demo portfolio's own "now" as shipped.
from pilot_health.demo.portfolio import DEMO_NOW  # noqa: E402  (after the constants people read first)

PIN = DEMO_NOW.replace(microsecond=0)
PIN_QUERY = f"as_of={PIN.isoformat()}"


def updating() -> bool:
    return os.environ.get(UPDATE_VARIABLE, "").strip().lower() in {"1", "yes", "true"}


# --- Pages and sizes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppPage:
    name: str  # in file names: "home", "Risk", "Risk-SC-01", "Pilot_register", …
    path: str  # in the address: "/", "/Risk", …
    source: str  # the file, relative to the project
    query: str = ""  # more of the address: "pilot=SC-01"

    @property
    def label(self) -> str:
        """How messages name the view: "pages/3_Risk.py?pilot=SC-01"."""
        return self.source + (f"?{self.query}" if self.query else "")

    def url(self, base_url: str) -> str:
        return f"{base_url}{self.path}?{'&'.join(filter(None, (self.query, PIN_QUERY)))}"


# A pilot's own view, on every page that has a pilot chooser (?pilot=): the demo's pilot whose
# story that page tells (docs/demo.md); SC-01 on a page not named here.
DETAIL_PILOTS = {"Risk": "SC-01", "Alignment": "RO-03", "Adoption": "RO-02"}
DEFAULT_DETAIL_PILOT = "SC-01"


def app_pages(root: Path = ROOT) -> list[AppPage]:
    """The home page and every page in pages/, as Streamlit's classic multipage mode names them
    (the file name without its number prefix and .py); after each page with a pilot chooser, that
    page with one pilot chosen."""
    found = [AppPage("home", "/", "app.py")]
    for file in sorted((root / "pages").glob("*.py")):
        name = re.sub(r"^\d+_", "", file.stem)
        found.append(AppPage(name, f"/{name}", f"pages/{file.name}"))
        if "pilot_picker(" in file.read_text(encoding="utf-8"):
            pilot = DETAIL_PILOTS.get(name, DEFAULT_DETAIL_PILOT)
            found.append(AppPage(f"{name}-{pilot}", f"/{name}", f"pages/{file.name}", f"pilot={pilot}"))
    return found


@dataclass(frozen=True)
class ScreenSize:
    name: str  # in file names and test ids
    width: int  # CSS pixels
    height: int
    scale: float  # device pixels per CSS pixel
    what: str

    @property
    def viewport(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height}


SIZES = (
    ScreenSize("1280", 1280, 800, 1.0, "a 1280×800 laptop screen"),
    ScreenSize("1440", 1440, 900, 1.0, "a 1440×900 screen"),
    ScreenSize("projector", 1280, 720, 1.5, "a 1920×1080 projector at 150 % zoom (1280×720 CSS pixels at scale 1.5)"),
)


def reference_path(page: AppPage, size: ScreenSize) -> Path:
    return REFERENCES / f"{page.name}-{size.name}.png"


def artifact_path(page: AppPage, size: ScreenSize, kind: str = "") -> Path:
    return ARTIFACTS / f"{page.name}-{size.name}{'.' + kind if kind else ''}.png"


# --- A store whose screenshots do not change from day to day ------------------------------------


def deterministic_demo_store(folder: Path) -> tuple[Path, dict[str, str]]:
    """A store in `folder` with the demo portfolio as shipped (dated around DEMO_NOW, not moved to
    the real today) and its load bookkeeping dated DEMO_NOW, and the environment pointing the
    dashboard at it (no first-run demo, no background warmer)."""
    import duckdb

    from pilot_health.demo.portfolio import load_demo
    from pilot_health.store.database import Store

    db = folder / "store.duckdb"
    load_demo(Store(db), today=DEMO_NOW.date())
    moment = PIN.isoformat()
    con = duckdb.connect(str(db))
    try:  # what the store records about the load itself is the real time; pictures must not show it
        con.execute("UPDATE store_meta SET value = ? WHERE key IN ('changed_at', 'first_run_done')", [moment])
        con.execute("UPDATE audit_log SET happened_at = ?", [PIN])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    env = dict(os.environ, PILOT_HEALTH_DB=str(db), PILOT_HEALTH_DEMO_ON_FIRST_RUN="no", PILOT_HEALTH_WARM_SECONDS="0")
    return db, env


# --- Taking a screenshot --------------------------------------------------------------------------

# Streamlit's moving parts: the header with its toolbar and running-man status, the coloured
# decoration line, spinners and skeletons, every animation and transition, the text caret.
HIDE_MOVING_PARTS_CSS = """
[data-testid="stHeader"], [data-testid="stToolbar"], [data-testid="stStatusWidget"],
[data-testid="stDecoration"], [data-testid="stSpinner"], [data-testid="stSkeleton"],
[data-testid="stAppDeployButton"], [data-testid="stMainMenu"] { visibility: hidden !important; }
*, *::before, *::after {
  animation-duration: 0s !important; animation-delay: 0s !important; animation-iteration-count: 1 !important;
  transition-duration: 0s !important; transition-delay: 0s !important;
  caret-color: transparent !important; scroll-behavior: auto !important;
}
"""

# True once everything that draws after the script has run is drawn: web fonts, images, Vega
# charts (an SVG or canvas of some size in each) and dataframes (their canvas) in view.
_DRAWN_JS = """
async () => {
  await document.fonts.ready;
  if (document.querySelector('[data-testid="stSpinner"], [data-testid="stSkeleton"]')) return false;
  for (const img of document.querySelectorAll('img')) if (!img.complete) return false;
  // Charts and dataframes are drawn when they come into view; one out of view (below the fold, in a
  // closed expander or another tab) is not waited for.
  const inView = el => {
    const r = el.getBoundingClientRect();
    return r.width >= 1 && r.height >= 1 && r.top < window.innerHeight && el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  };
  for (const chart of document.querySelectorAll('[data-testid="stVegaLiteChart"]')) {
    if (!inView(chart)) continue;
    const drawn = chart.querySelector('svg, canvas');
    if (!drawn || drawn.getBoundingClientRect().width < 10) return false;
  }
  for (const grid of document.querySelectorAll('[data-testid="stDataFrame"]')) {
    if (inView(grid) && !grid.querySelector('canvas')) return false;
  }
  return true;
}
"""

_CONTENT_HEIGHT_JS = """
() => {
  const parts = ['[data-testid="stMain"]', '[data-testid="stSidebarContent"]', '[data-testid="stAppViewContainer"]']
    .map(s => document.querySelector(s)).filter(Boolean);
  return Math.ceil(Math.max(window.innerHeight, ...parts.map(el => el.scrollHeight)));
}
"""


def _wait_drawn(tab, timeout_ms: int) -> None:
    deadline = time.monotonic() + timeout_ms / 1000
    while not tab.evaluate(_DRAWN_JS):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{tab.url} did not finish drawing (spinner, image, chart or table) within {timeout_ms // 1000} s"
            )
        time.sleep(0.1)


def open_page(tab, base_url: str, page: AppPage, timeout_ms: int = FIRST_RENDER_MS) -> None:
    """Open `page` pinned to PIN and wait until Streamlit has run its script and drawn its title."""
    tab.goto(page.url(base_url), wait_until="domcontentloaded")
    settle(tab, timeout_ms)


def settle(tab, timeout_ms: int = FIRST_RENDER_MS) -> None:
    """Wait until the script has run, the page's title is there and everything is drawn; hide
    the moving parts."""
    tab.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        state="attached", timeout=timeout_ms
    )
    tab.locator('[data-testid="stMain"] h1').first.wait_for(state="visible", timeout=timeout_ms)
    tab.add_style_tag(content=HIDE_MOVING_PARTS_CSS)
    tab.evaluate("() => document.activeElement && document.activeElement.blur && document.activeElement.blur()")
    _wait_drawn(tab, timeout_ms)


def full_page_screenshot(tab, size: ScreenSize) -> bytes:
    """The whole page at `size`: the viewport set to the size, then stretched to the page's height
    (Streamlit scrolls inside its main element, so Playwright's full_page would stop at the
    viewport), taken once two screenshots in a row are identical."""
    tab.set_viewport_size(size.viewport)
    _wait_drawn(tab, FIRST_RENDER_MS)
    height = size.height
    for _ in range(5):  # the height can change once the layout follows the new viewport
        wanted = tab.evaluate(_CONTENT_HEIGHT_JS)
        if wanted == height:
            break
        height = wanted
        tab.set_viewport_size({"width": size.width, "height": height})
        _wait_drawn(tab, FIRST_RENDER_MS)
    previous = None
    for _ in range(STABLE_TRIES):
        shot = tab.screenshot(scale="device", animations="disabled", caret="hide")
        if shot == previous:
            return shot
        previous = shot
        time.sleep(STABLE_PAUSE_S)
    return previous  # still changing: the comparison will show what moves


# --- Comparing it with the reference --------------------------------------------------------------


@dataclass
class Comparison:
    matches: bool
    message: str
    different_share: float = 0.0
    densest_block: int = 0  # the most differing pixels in one BLOCK×BLOCK square


def compare(actual_png: bytes, reference_file: Path, diff_file: Path | None = None) -> Comparison:
    """Compare a screenshot with its reference (Pillow): see PIXEL_THRESHOLD, MAX_DIFFERENT_SHARE, MAX_BLOCK_PIXELS.
    Writes a diff image to `diff_file` when they do not match."""
    from PIL import Image, ImageChops, ImageOps

    actual = Image.open(io.BytesIO(actual_png)).convert("RGB")
    reference = Image.open(reference_file).convert("RGB")
    width, height = max(actual.width, reference.width), max(actual.height, reference.height)
    actual_size, reference_size = actual.size, reference.size
    same_size = actual_size == reference_size
    if not same_size:  # compare on a common canvas; everything outside one of them counts as different
        actual = _padded(actual, width, height)
        reference = _padded(reference, width, height)
    channels = ImageChops.difference(actual, reference).split()
    largest = ImageChops.lighter(ImageChops.lighter(channels[0], channels[1]), channels[2])
    mask = largest.point(lambda v: 255 if v > PIXEL_THRESHOLD else 0, mode="L")
    different = mask.histogram()[255]
    share = different / (width * height)
    # The most differing pixels in one BLOCK×BLOCK square: reduce() averages each square.
    densest = round(mask.reduce(BLOCK).getextrema()[1] * BLOCK * BLOCK / 255)
    matches = same_size and share <= MAX_DIFFERENT_SHARE and densest <= MAX_BLOCK_PIXELS
    summary = (
        f"{share:.3%} of the pixels differ by more than {PIXEL_THRESHOLD}/255 (tolerance {MAX_DIFFERENT_SHARE:.1%}), "
        f"at most {densest} in one {BLOCK}×{BLOCK} square (tolerance {MAX_BLOCK_PIXELS})"
    )
    if matches:
        return Comparison(True, summary, share, densest)
    if diff_file is not None:
        faded = ImageOps.grayscale(reference).point(lambda v: 160 + v * 95 // 255).convert("RGB")
        faded.paste((230, 0, 0), mask=mask)
        diff_file.parent.mkdir(parents=True, exist_ok=True)
        faded.save(diff_file, optimize=True)
    box = mask.getbbox()
    where = f"; the differences lie within x {box[0]}–{box[2]}, y {box[1]}–{box[3]} (device pixels)" if box else ""
    size_note = (
        ""
        if same_size
        else f"; the size changed from {reference_size[0]}×{reference_size[1]} to {actual_size[0]}×{actual_size[1]}"
    )
    return Comparison(False, f"{summary}{size_note}{where}", share, densest)


def _padded(image, width: int, height: int):
    from PIL import Image

    if image.size == (width, height):
        return image
    canvas = Image.new("RGB", (width, height), (255, 0, 255))
    canvas.paste(image, (0, 0))
    return canvas


def save_png(png: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)


def write_reference(png: bytes, path: Path) -> None:
    """A reference, re-encoded with Pillow's optimiser (smaller in git; the pixels are the same)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.open(io.BytesIO(png)).save(path, optimize=True)


# --- What a person can read: clipped text and "None" ---------------------------------------------

# Every visible element in the main area and the sidebar that clips its content horizontally
# (overflow hidden, clip, auto or scroll — text-overflow: ellipsis needs one of them) and whose
# content is wider than its box holds text a person cannot read whole: a metric label or value cut
# with "…", a table header or cell, a tab label, a caption, a button, a header, an expander's
# summary; a table that must be scrolled sideways counts too. The same for boxes that cut their
# content vertically (line clamps, fixed heights). Only the innermost such box is named. Dataframes
# (a canvas) and charts (SVG) are checked on their own, below.
_CLIPPED_HTML_JS = r"""
() => {
  const roots = ['[data-testid="stMain"]', '[data-testid="stSidebar"]'].map(s => document.querySelector(s)).filter(Boolean);
  const skip = '[data-testid="stDataFrame"], [data-testid="stVegaLiteChart"], [data-testid="stCode"], svg, [data-testid="stSidebarCollapseButton"]';
  const clips = v => ['hidden', 'clip', 'auto', 'scroll'].includes(v);
  // Shown: has a size and is rendered (not in a closed expander, a hidden tab, transparent or hidden).
  const shown = el => {
    const r = el.getBoundingClientRect();
    return r.width >= 1 && r.height >= 1 && el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  };
  const flagged = [];
  for (const root of roots) {
    for (const el of root.querySelectorAll('*')) {
      if (el.closest(skip)) continue;
      if (el.matches('[data-testid="stMain"], [data-testid="stSidebar"], [data-testid="stSidebarContent"], [data-testid="stMainBlockContainer"], [data-testid="stSidebarUserContent"]')) continue;
      const cs = getComputedStyle(el);
      const wide = clips(cs.overflowX) && el.scrollWidth > el.clientWidth + 1;
      const tall = (clips(cs.overflowY) || cs.webkitLineClamp !== 'none') && el.scrollHeight > el.clientHeight + 1 && el.clientHeight > 0;
      if (!wide && !tall) continue;
      const text = (el.innerText || '').replace(/\s+/g, ' ').trim();
      if (!text || !shown(el)) continue;
      flagged.push({el, wide, text, sizes: wide ? `${el.scrollWidth} px of content in ${el.clientWidth} px` : `${el.scrollHeight} px of content in ${el.clientHeight} px high`});
    }
  }
  const innermost = flagged.filter(f => !flagged.some(o => o !== f && f.el.contains(o.el)));
  // "stMarkdownContainer in stMetricDelta in stMetric": the box that cuts, and what it belongs to.
  const describe = el => {
    const names = [];
    if (!el.hasAttribute('data-testid')) names.push(el.tagName.toLowerCase() + (el.getAttribute('role') ? `[role=${el.getAttribute('role')}]` : ''));
    for (let a = el; a && names.length < 3; a = a.parentElement) {
      const id = a.getAttribute('data-testid');
      if (id && !/^st(Vertical|Horizontal)Block$|^stElementContainer$|^stColumn$|^stLayoutWrapper$/.test(id)) names.push(id);
      if (a.matches('[data-testid="stMain"], [data-testid="stSidebar"]')) break;
    }
    return names.join(' in ');
  };
  return innermost.map(f => ({
    where: describe(f.el), text: f.text.slice(0, 160), how: (f.wide ? 'cut off at the right: ' : 'cut off at the bottom: ') + f.sizes,
  }));
}
"""

# Chart labels: Vega shortens an axis, legend or mark label that does not fit its limit and ends
# it with "…"; any SVG text in a chart that ends so was cut.
_CLIPPED_CHART_JS = r"""
() => {
  const out = [];
  document.querySelectorAll('[data-testid="stVegaLiteChart"]').forEach((chart, index) => {
    for (const t of chart.querySelectorAll('svg text')) {
      const text = (t.textContent || '').trim();
      if (text.endsWith('…')) out.push({where: `chart ${index + 1}`, text, how: 'label shortened by the chart ("…")'});
    }
  });
  return out;
}
"""

# Dataframes are drawn on a canvas by glide-data-grid, so the DOM cannot say what is cut. The grid
# component's own properties can: React keeps them on the canvas's ancestors (the columns with
# their widths and titles, the number of rows, getCellContent for any cell, the theme with its
# fonts and cell padding). With them, in the page: a column is cut off when it does not fit the
# grid's visible width (the grid must be scrolled sideways to read it); a header or a cell is cut
# when its text, measured with the grid's own font (canvas measureText), is wider than the column
# less the padding it starts after (the grid draws text from the left padding, or up to the right
# one for numbers, and clips it at the column's edge, without an ellipsis); in a row tall enough
# for the grid to wrap text, a cell is cut when its words, wrapped greedily, need more lines than
# the row holds (line height: the theme's, else 1.4 × the font size). Every row is checked, not only those on screen. A missing value
# is drawn as the grid's placeholder, "None" unless st.dataframe(placeholder=…) says otherwise.
_GRID_JS = r"""
async () => {
  await document.fonts.ready;
  const measure = document.createElement('canvas').getContext('2d');
  const textOf = cell => {
    if (!cell) return '';
    if (typeof cell.displayData === 'string') return cell.displayData;
    if (cell.data && typeof cell.data === 'object') {
      const d = cell.data;
      for (const k of ['displayDate', 'displayValue', 'label']) if (typeof d[k] === 'string') return d[k];
    }
    return typeof cell.copyData === 'string' ? cell.copyData : '';
  };
  const noPlaceholder = cell => cell.kind === 'boolean' || cell.kind === 'image' ||
    (cell.kind === 'custom' && cell.data && ['sparkline-cell', 'range-cell'].includes(cell.data.kind));
  const grids = [];
  document.querySelectorAll('[data-testid="stDataFrame"]').forEach((grid, index) => {
    let props = null, placeholder = null;
    for (let el = grid.querySelector('canvas'); el && el !== grid.parentElement; el = el.parentElement) {
      const key = Object.keys(el).find(k => k.startsWith('__reactFiber$'));
      if (!key) continue;
      for (let f = el[key]; f; f = f.return) {
        const p = f.memoizedProps;
        if (!p) continue;
        if (!props && Array.isArray(p.columns) && typeof p.getCellContent === 'function' && p.theme) props = p;
        if (placeholder === null && p.element && typeof p.element === 'object' && 'placeholder' in p.element)
          placeholder = p.element.placeholder || null;
      }
      if (props) break;
    }
    if (!grid.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) return;  // in a closed expander: not drawn, not read
    const scroller = grid.querySelector('.dvn-scroller');
    const titles = props ? props.columns.map(c => String(c.title || '')) : [...grid.querySelectorAll('th')].map(th => th.textContent.trim());
    const name = `table ${index + 1} (${titles.filter(Boolean).slice(0, 3).join(', ') || 'no headers'}…)`;
    if (!props) { grids.push({name, found: false}); return; }
    const theme = props.theme, pad = theme.cellHorizontalPadding;
    const headerFont = `${theme.headerFontStyle} ${theme.fontFamily}`, cellFont = `${theme.baseFontStyle} ${theme.fontFamily}`;
    const visibleWidth = scroller ? scroller.clientWidth : Infinity;
    // A tall row lets the grid wrap a text cell (cell.allowWrapping) over as many lines as the row holds.
    const fontPx = parseFloat(String(theme.baseFontStyle).match(/([\d.]+)px/)?.[1] || '14');
    const lineHeight = fontPx * (theme.lineHeight || 1.4);
    const rowHeight = typeof props.rowHeight === 'number' ? props.rowHeight : 0;
    const linesShown = cell => cell.allowWrapping
      ? Math.max(1, Math.floor((rowHeight - 2 * (theme.cellVerticalPadding || 3)) / lineHeight)) : 1;
    const linesNeeded = (cell, text, room) => {
      if (!cell.allowWrapping) return measure.measureText(text).width > room ? 2 : 1;
      let lines = 1, line = '';
      for (const word of text.split(/\s+/).filter(Boolean)) {
        if (measure.measureText(word).width > room) return Infinity;  // one word wider than the column: cut
        const joined = line ? `${line} ${word}` : word;
        if (measure.measureText(joined).width <= room) line = joined; else { lines += 1; line = word; }
      }
      return lines;
    };
    const shown = placeholder || 'None';
    const columns = [];
    let x = 0;
    props.columns.forEach((column, c) => {
      const width = column.width, title = String(column.title || '');
      measure.font = headerFont;
      const titleWidth = measure.measureText(title).width;
      const info = {title, width: Math.round(width), left: Math.round(x), beyond: x + width > visibleWidth + 1,
                    headerCut: titleWidth > width - pad + 1, titleWidth: Math.round(titleWidth),
                    cutCells: 0, cutExample: null, missing: 0, noneText: 0, noneExample: null};
      measure.font = cellFont;
      const rows = Math.min(props.rows, 2000);
      for (let r = 0; r < rows; r++) {
        const cell = props.getCellContent([c, r]);
        if (cell.isMissingValue) { if (!noPlaceholder(cell)) info.missing += 1; continue; }
        const text = textOf(cell);
        if (/\bNone\b/.test(text)) { info.noneText += 1; info.noneExample = info.noneExample || text.slice(0, 80); }
        if (text && linesNeeded(cell, text, width - pad + 1) > linesShown(cell)) {
          info.cutCells += 1; info.cutExample = info.cutExample || text.slice(0, 80);
        }
      }
      columns.push(info);
      x += width;
    });
    grids.push({name, found: true, rows: props.rows, visibleWidth: scroller ? scroller.clientWidth : null,
                totalWidth: Math.round(x), placeholder: shown, columns});
  });
  return grids;
}
"""

_NONE = re.compile(r"\bNone\b")


@dataclass
class TextFindings:
    """What the text checks found on one page at one size, in words a developer can act on."""

    clipped: list[str] = field(default_factory=list)
    nones: list[str] = field(default_factory=list)

    def as_text(self) -> str:
        parts = []
        if self.clipped:
            parts.append("Cut-off text:\n" + "\n".join(f"  - {line}" for line in self.clipped))
        if self.nones:
            parts.append('"None" shown:\n' + "\n".join(f"  - {line}" for line in self.nones))
        return "\n".join(parts) or "Nothing cut off, no None shown."


def text_findings(tab) -> TextFindings:
    """Run the browser-side checks on the page as it is now (its viewport decides what fits)."""
    found = TextFindings()
    for item in tab.evaluate(_CLIPPED_HTML_JS) + tab.evaluate(_CLIPPED_CHART_JS):
        found.clipped.append(f"{item['where']}: “{item['text']}” — {item['how']}")
    for grid in tab.evaluate(_GRID_JS):
        name = grid["name"]
        if not grid["found"]:
            found.clipped.append(f"{name}: the grid's columns could not be read (Streamlit's dataframe changed?)")
            continue
        beyond = [c["title"] for c in grid["columns"] if c["beyond"]]
        if beyond:
            found.clipped.append(
                f"{name}: {grid['totalWidth']} px of columns in {grid['visibleWidth']} px — cut off at the right from "
                f"“{beyond[0]}” (not fully visible without scrolling sideways: {', '.join(beyond)})"
            )
        for c in grid["columns"]:
            if c["headerCut"]:
                found.clipped.append(
                    f"{name}: header “{c['title']}” is cut ({c['titleWidth']} px of text in a {c['width']} px column)"
                )
            if c["cutCells"]:
                found.clipped.append(
                    f"{name}: column “{c['title']}” cuts {c['cutCells']} cell(s), e.g. “{c['cutExample']}” ({c['width']} px column)"
                )
            if c["missing"] and _NONE.search(grid["placeholder"]):
                found.nones.append(
                    f"{name}: column “{c['title']}” shows {c['missing']} empty cell(s) as “{grid['placeholder']}”"
                )
            if c["noneText"]:
                found.nones.append(
                    f"{name}: column “{c['title']}” has {c['noneText']} cell(s) reading “{c['noneExample']}”"
                )
    for where, selector in (("main area", '[data-testid="stMain"]'), ("sidebar", '[data-testid="stSidebar"]')):
        locator = tab.locator(selector)
        if not locator.count():
            continue
        text = locator.inner_text()
        for line in text.splitlines():
            if _NONE.search(line):
                found.nones.append(f"{where}: “{line.strip()[:160]}”")
    return found


# --- One page, every size --------------------------------------------------------------------------


@dataclass
class Capture:
    png: bytes
    findings: TextFindings
    seconds: float


def write_findings(page: AppPage, size: ScreenSize, findings: TextFindings) -> None:
    path = ARTIFACTS / f"{page.name}-{size.name}.checks.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{page.label} at {size.what}\n{findings.as_text()}\n", encoding="utf-8")


def findings_json(captures: dict) -> str:
    return json.dumps(
        {
            f"{p.name}-{s.name}": {"clipped": c.findings.clipped, "nones": c.findings.nones}
            for (p, s), c in captures.items()
        },
        indent=2,
        ensure_ascii=False,
    )
