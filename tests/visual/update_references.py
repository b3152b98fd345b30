"""Rewrite the visual regression check's reference screenshots, or the README's screenshots.

    .venv/bin/python tests/visual/update_references.py              every reference (tests/visual/references/)
    .venv/bin/python tests/visual/update_references.py -k Risk      only some (any pytest arguments are passed on)
    .venv/bin/python tests/visual/update_references.py --readme     the README's pictures (docs/images/)

References are written by the test itself (tests/test_browser_visual.py with
PILOT_HEALTH_UPDATE_SCREENSHOTS=1), so they are taken exactly as the check takes its screenshots.
Look at them (git diff shows which changed; tests/visual/artifacts/ holds the same pictures)
before committing.

The README's pictures show what a new visitor sees: the demo portfolio loaded for today (as the
first run loads it, not pinned), at 1440×900 — the portfolio's first screen, and the risk page
with one pilot's detail (SC-01, the demo's data-debt story).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
IMAGES = ROOT / "docs" / "images"
README_PILOT = "SC-01"
README_VIEWPORT = {"width": 1440, "height": 900}


def update_references(only: str | None, pytest_args: list[str]) -> int:
    """Run the reference test with PILOT_HEALTH_UPDATE_SCREENSHOTS=1 (only the views `only`, a
    pytest -k expression, selects)."""
    env = dict(os.environ, PILOT_HEALTH_UPDATE_SCREENSHOTS="1")
    chosen = "test_page_looks_like_its_reference" + (f" and ({only})" if only else "")
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(TESTS / "test_browser_visual.py"),
        "-q",
        "-p",
        "no:cacheprovider",
        "-k",
        chosen,
        *pytest_args,
    ]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def readme_images() -> list[Path]:
    sys.path.insert(0, str(TESTS))
    from browser_support import CHROMIUM_ARGS, chromium_or_skip, start_dashboard
    from PIL import Image
    from playwright.sync_api import sync_playwright
    from visual_support import HIDE_MOVING_PARTS_CSS, settle

    from pilot_health.demo.portfolio import load_demo
    from pilot_health.store.database import Store

    try:
        chromium = chromium_or_skip()
    except BaseException as skipped:  # pytest.skip outside pytest: say why and stop
        sys.exit(str(skipped))
    IMAGES.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        db = folder / "store.duckdb"
        load_demo(Store(db))  # as the first run loads it: moved to this week
        env = dict(
            os.environ, PILOT_HEALTH_DB=str(db), PILOT_HEALTH_DEMO_ON_FIRST_RUN="no", PILOT_HEALTH_WARM_SECONDS="0"
        )
        with start_dashboard(folder, db, env) as server, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=README_VIEWPORT, device_scale_factor=1)
            tab = context.new_page()

            tab.goto(server.url + "/", wait_until="domcontentloaded")
            settle(tab)
            tab.wait_for_timeout(1500)  # charts finish their layout
            path = IMAGES / "portfolio.png"
            Image.open(io.BytesIO(tab.screenshot(animations="disabled", caret="hide"))).save(path, optimize=True)
            written.append(path)

            tab.goto(f"{server.url}/Risk?pilot={README_PILOT}", wait_until="domcontentloaded")
            settle(tab)
            # The pilot's detail starts at its heading; show it from there, one screen high, with the sidebar.
            heading = (
                tab.locator('[data-testid="stMain"] h2, [data-testid="stMain"] h3').filter(has_text=README_PILOT).first
            )
            heading.scroll_into_view_if_needed()
            tab.evaluate(
                """(el) => { const main = document.querySelector('[data-testid="stMain"]');
                                      main.scrollTop += el.getBoundingClientRect().top - 24; }""",
                heading.element_handle(),
            )
            tab.add_style_tag(content=HIDE_MOVING_PARTS_CSS)
            tab.wait_for_timeout(1500)
            path = IMAGES / "risk-detail.png"
            Image.open(io.BytesIO(tab.screenshot(animations="disabled", caret="hide"))).save(path, optimize=True)
            written.append(path)
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", action="store_true", help="write the README's screenshots (docs/images/) instead")
    parser.add_argument(
        "-k", dest="only", help="only the views this pytest -k expression selects, e.g. 'Risk and 1440'"
    )
    args, rest = parser.parse_known_args(argv)
    if args.readme:
        for path in readme_images():
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    return update_references(args.only, rest)


if __name__ == "__main__":
    sys.exit(main())
